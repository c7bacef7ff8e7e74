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
    Keep {
        indices: Vec<usize>,
        truncated: Option<(usize, String)>,
    },
}

pub fn message_tokens<S: AsRef<str>>(enc: &Encoding, m: &MessageSpec<S>) -> usize {
    PER_MESSAGE + m.texts.iter().map(|t| count(enc, t.as_ref())).sum::<usize>() + if m.has_name { PER_NAME } else { 0 }
}

/// The whole conversation's count, including the reply priming.
pub fn messages_tokens<S: AsRef<str> + Sync>(enc: &Encoding, ms: &[MessageSpec<S>]) -> usize {
    let all: Vec<&MessageSpec<S>> = ms.iter().collect();
    count_specs(enc, &all).iter().sum::<usize>() + REPLY_PRIMING
}

/// Role and tool-call flag of one message: all the rule needs before counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub role: Role,
    pub calls_tool: bool,
}

/// Where `optimize_source` gets counts from, on demand: the walk from the newest message stops
/// at the first unit that does not fit, so older messages are never counted.
pub trait Source {
    fn shapes(&self) -> &[Shape];
    /// Cookbook token counts (`message_tokens`) of the messages `idx`, in that order.
    fn counts(&mut self, idx: &[usize]) -> Result<Vec<usize>, TokenError>;
    /// Message `i`'s content cut so that the message, which needs `need` tokens now, needs at
    /// most `budget`; returns the new count of the message and the cut content.
    fn cut(&mut self, i: usize, need: usize, budget: usize) -> Result<(usize, String), TokenError>;
}

/// Messages already described by `MessageSpec`s (tests, benches, Rust callers).
pub struct SpecSource<'a, S> {
    enc: &'a Encoding,
    specs: &'a [MessageSpec<S>],
    shapes: Vec<Shape>,
    marker: &'a str,
}

impl<'a, S: AsRef<str> + Sync> SpecSource<'a, S> {
    pub fn new(enc: &'a Encoding, specs: &'a [MessageSpec<S>], marker: &'a str) -> Self {
        let shapes = specs.iter().map(|m| Shape { role: m.role, calls_tool: m.calls_tool }).collect();
        Self { enc, specs, shapes, marker }
    }
}

impl<S: AsRef<str> + Sync> Source for SpecSource<'_, S> {
    fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    fn counts(&mut self, idx: &[usize]) -> Result<Vec<usize>, TokenError> {
        let picked: Vec<&MessageSpec<S>> = idx.iter().filter_map(|&i| self.specs.get(i)).collect();
        Ok(count_specs(self.enc, &picked))
    }

    fn cut(&mut self, i: usize, need: usize, budget: usize) -> Result<(usize, String), TokenError> {
        let m = self.specs.get(i).ok_or_else(|| TokenError::InvalidArgument(format!("no message {i}")))?;
        cut_message(self.enc, m, need, budget, self.marker)
    }
}

/// Counts of several messages, on rayon's pool when there are enough of them.
pub fn count_specs<S: AsRef<str> + Sync>(enc: &Encoding, ms: &[&MessageSpec<S>]) -> Vec<usize> {
    if ms.len() < 16 {
        return ms.iter().map(|m| message_tokens(enc, m)).collect();
    }
    ms.par_iter().with_min_len(4).map(|m| message_tokens(enc, m)).collect()
}

/// Message `m` with its content cut to fit `budget` (see `Source::cut`).
pub fn cut_message<S: AsRef<str>>(
    enc: &Encoding,
    m: &MessageSpec<S>,
    need: usize,
    budget: usize,
    marker: &str,
) -> Result<(usize, String), TokenError> {
    let (content_tokens, cut) = cut_content(enc, m, need, budget, marker)?;
    Ok((need - content_tokens + count(enc, &cut), cut))
}

pub fn optimize<S: AsRef<str> + Sync>(
    enc: &Encoding,
    ms: &[MessageSpec<S>],
    max_tokens: usize,
    keep_system: bool,
    marker: &str,
) -> Result<Plan, TokenError> {
    optimize_source(&mut SpecSource::new(enc, ms, marker), max_tokens, keep_system)
}

/// The rule of the module doc, counting lazily. "Unchanged" is exactly "every unit was kept and
/// nothing was cut", which holds exactly when the whole conversation fits.
pub fn optimize_source<Src: Source>(src: &mut Src, max_tokens: usize, keep_system: bool) -> Result<Plan, TokenError> {
    let shapes: Vec<Shape> = src.shapes().to_vec();
    let pinned = |i: usize| keep_system && shapes[i].role == Role::System;
    let mut keep: Vec<usize> = (0..shapes.len()).filter(|&i| pinned(i)).collect();
    let pinned_total: usize = src.counts(&keep)?.iter().sum();
    let mut budget = max_tokens.checked_sub(REPLY_PRIMING + pinned_total).ok_or_else(|| {
        TokenError::InvalidArgument(format!(
            "the system messages alone need {} tokens, more than max_tokens={max_tokens}",
            pinned_total + REPLY_PRIMING
        ))
    })?;
    let mut truncated = None;

    let anchor = (0..shapes.len()).rev().find(|&i| !pinned(i) && shapes[i].role == Role::User);
    if let Some(a) = anchor {
        let need = src.counts(&[a])?.iter().sum::<usize>();
        if need <= budget {
            budget -= need;
        } else {
            let (now, cut) = src.cut(a, need, budget)?;
            budget = budget.saturating_sub(now);
            truncated = Some((a, cut));
        }
        keep.push(a);
    }

    let units = units(&shapes, &pinned);
    let mut pending = units.iter().rev().filter(|u| Some(u[0]) != anchor).peekable();
    let mut batch_size = 16;
    let mut complete = true;
    'walk: while pending.peek().is_some() {
        // Count the next units together (in parallel); batches double so that waste stays
        // below the work actually needed.
        let batch: Vec<&Vec<usize>> = pending.by_ref().take(batch_size).collect();
        batch_size *= 2;
        let flat: Vec<usize> = batch.iter().flat_map(|u| u.iter().copied()).collect();
        let counts = src.counts(&flat)?;
        let mut at = 0;
        for unit in batch {
            let cost: usize = counts[at..at + unit.len()].iter().sum();
            at += unit.len();
            if cost > budget {
                complete = false;
                break 'walk;
            }
            budget -= cost;
            keep.extend_from_slice(unit);
        }
    }
    if complete && truncated.is_none() {
        return Ok(Plan::Unchanged);
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
fn units<F: Fn(usize) -> bool>(ms: &[Shape], pinned: &F) -> Vec<Vec<usize>> {
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
