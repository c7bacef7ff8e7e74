//! Chat messages: the OpenAI cookbook's count, and the history optimization rule.
//!
//! Count (cookbook, `num_tokens_from_messages`): 3 per message, plus the tokens of every value of
//! the message (role, content, name, …), plus 1 when it has a name; plus 3 for the reply priming.
//!
//! Optimization rule (docs/tokens.md states it for users):
//! 1. A conversation whose count is within `max_tokens` comes back unchanged.
//! 2. With `keep_system`, every system message is kept, in its place.
//! 3. The newest user message is always kept; when it alone does not fit next to the kept system
//!    messages its content is truncated (head and tail kept, `marker` between).
//! 4. The remaining budget goes to the other messages from newest to oldest, whole units at a
//!    time, stopping at the first unit that does not fit (the kept history is contiguous). A unit
//!    is an assistant message that calls tools together with the tool results that follow it, or
//!    else a single message: a call is never kept without its results, nor results without it.
//! 5. Kept messages keep their order.
use rayon::prelude::*;

use crate::count::count;
use crate::encoding::Encoding;
use crate::error::TokenError;
use crate::truncate::{truncate, Keep};

/// Tokens that prime the assistant's reply, counted once per conversation.
pub const REPLY_PRIMING: usize = 3;
const PER_MESSAGE: usize = 3;
const PER_NAME: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    /// `tool` or `function`: a tool's result.
    ToolResult,
    Other,
}

impl Role {
    pub fn parse(role: &str) -> Self {
        match role {
            "system" | "developer" => Self::System,
            "user" => Self::User,
            "assistant" => Self::Assistant,
            "tool" | "function" => Self::ToolResult,
            _ => Self::Other,
        }
    }
}

/// What the count and the rule need to know about one message.
#[derive(Debug, Clone)]
pub struct MessageSpec<S> {
    pub role: Role,
    /// Every value that is counted (role, content, name, serialized tool calls…).
    pub texts: Vec<S>,
    /// Which of `texts` is the content, when it is a string that may be truncated.
    pub content: Option<usize>,
    pub has_name: bool,
    /// An assistant message with `tool_calls` or `function_call`.
    pub calls_tool: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Unchanged,
    /// Indices of the kept messages, ascending; and the one message whose content was cut.
    Keep { indices: Vec<usize>, truncated: Option<(usize, String)> },
}

pub fn message_tokens<S: AsRef<str>>(enc: &Encoding, m: &MessageSpec<S>) -> usize {
    PER_MESSAGE
        + m.texts.iter().map(|t| count(enc, t.as_ref())).sum::<usize>()
        + if m.has_name { PER_NAME } else { 0 }
}

/// The whole conversation's count, including the reply priming.
pub fn messages_tokens<S: AsRef<str> + Sync>(enc: &Encoding, ms: &[MessageSpec<S>]) -> usize {
    per_message(enc, ms).iter().sum::<usize>() + REPLY_PRIMING
}

fn per_message<S: AsRef<str> + Sync>(enc: &Encoding, ms: &[MessageSpec<S>]) -> Vec<usize> {
    if ms.len() < 64 {
        return ms.iter().map(|m| message_tokens(enc, m)).collect();
    }
    ms.par_iter().with_min_len(32).map(|m| message_tokens(enc, m)).collect()
}

pub fn optimize<S: AsRef<str> + Sync>(
    enc: &Encoding,
    ms: &[MessageSpec<S>],
    max_tokens: usize,
    keep_system: bool,
    marker: &str,
) -> Result<Plan, TokenError> {
    let counts = per_message(enc, ms);
    if counts.iter().sum::<usize>() + REPLY_PRIMING <= max_tokens {
        return Ok(Plan::Unchanged);
    }
    let pinned = |i: usize| keep_system && ms[i].role == Role::System;
    let pinned_total: usize = (0..ms.len()).filter(|&i| pinned(i)).map(|i| counts[i]).sum();
    let mut budget = max_tokens
        .checked_sub(REPLY_PRIMING + pinned_total)
        .ok_or_else(|| TokenError::InvalidArgument(format!(
            "the system messages alone need {} tokens, more than max_tokens={max_tokens}",
            pinned_total + REPLY_PRIMING
        )))?;
    let mut keep: Vec<usize> = (0..ms.len()).filter(|&i| pinned(i)).collect();
    let mut truncated = None;

    let anchor = (0..ms.len()).rev().find(|&i| !pinned(i) && ms[i].role == Role::User);
    if let Some(a) = anchor {
        let need = counts[a];
        if need <= budget {
            budget -= need;
        } else {
            let (content, cut) = cut_content(enc, &ms[a], need, budget, marker)?;
            budget -= need - content + count(enc, &cut);
            truncated = Some((a, cut));
        }
        keep.push(a);
    }

    for unit in units(ms, &pinned).iter().rev() {
        if Some(unit[0]) == anchor {
            continue;
        }
        let cost: usize = unit.iter().map(|&i| counts[i]).sum();
        if cost > budget {
            break;
        }
        budget -= cost;
        keep.extend_from_slice(unit);
    }
    keep.sort_unstable();
    Ok(Plan::Keep { indices: keep, truncated })
}

/// Content tokens of `m` and its content cut so that the whole message needs at most `budget`.
fn cut_content<S: AsRef<str>>(
    enc: &Encoding,
    m: &MessageSpec<S>,
    need: usize,
    budget: usize,
    marker: &str,
) -> Result<(usize, String), TokenError> {
    let Some(ci) = m.content else {
        return Err(TokenError::InvalidArgument(
            "the newest user message does not fit and its content is not text".into(),
        ));
    };
    let content = m.texts.get(ci).map(|t| t.as_ref()).unwrap_or_default();
    let content_tokens = count(enc, content);
    let overhead = need - content_tokens;
    let room = budget.checked_sub(overhead).ok_or_else(|| {
        TokenError::InvalidArgument(format!(
            "max_tokens leaves no room for the newest user message ({overhead} tokens without its content)"
        ))
    })?;
    Ok((content_tokens, truncate(enc, content, room, Keep::Both, marker)))
}

/// Messages grouped into units (see the module doc), pinned ones left out, in order.
fn units<S, F: Fn(usize) -> bool>(ms: &[MessageSpec<S>], pinned: &F) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut open_call = false;
    for (i, m) in ms.iter().enumerate() {
        if pinned(i) {
            continue;
        }
        match out.last_mut() {
            Some(unit) if open_call && m.role == Role::ToolResult => unit.push(i),
            _ => {
                out.push(vec![i]);
                open_call = m.calls_tool;
            }
        }
    }
    out
}
