//! The lazy walk of `optimize` gives the plan of the plain eager rule (count all, then walk), and
//! truncation keeps its guarantee. Random conversations with tool units and system messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use tekton_tokens::{count, message_tokens, optimize, truncate, Encoding, Keep, MessageSpec, Plan, Role};

const MARKER: &str = "\n[...]\n";

fn msg(role: Role, content: &str, calls_tool: bool) -> MessageSpec<String> {
    let role_s = match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::ToolResult => "tool",
        Role::Other => "other",
    };
    MessageSpec { role, texts: vec![role_s.into(), content.into()], content: Some(1), has_name: false, calls_tool }
}

/// The rule, eagerly: count everything first.
fn eager(enc: &Encoding, ms: &[MessageSpec<String>], max: usize, keep_system: bool) -> Option<Plan> {
    let counts: Vec<usize> = ms.iter().map(|m| message_tokens(enc, m)).collect();
    if counts.iter().sum::<usize>() + 3 <= max {
        return Some(Plan::Unchanged);
    }
    let pinned = |i: usize| keep_system && ms[i].role == Role::System;
    let mut keep: Vec<usize> = (0..ms.len()).filter(|&i| pinned(i)).collect();
    let mut budget = max.checked_sub(3 + keep.iter().map(|&i| counts[i]).sum::<usize>())?;
    let anchor = (0..ms.len()).rev().find(|&i| !pinned(i) && ms[i].role == Role::User);
    if let Some(a) = anchor {
        if counts[a] > budget {
            return None; // truncation cases are compared through `optimize` itself below
        }
        budget -= counts[a];
        keep.push(a);
    }
    let mut units: Vec<Vec<usize>> = Vec::new();
    let mut open = false;
    for (i, m) in ms.iter().enumerate() {
        if pinned(i) {
            continue;
        }
        if open && m.role == Role::ToolResult {
            units.last_mut().unwrap().push(i);
        } else {
            units.push(vec![i]);
            open = m.calls_tool;
        }
    }
    for u in units.iter().rev() {
        if Some(u[0]) == anchor {
            continue;
        }
        let cost: usize = u.iter().map(|&i| counts[i]).sum();
        if cost > budget {
            break;
        }
        budget -= cost;
        keep.extend_from_slice(u);
    }
    keep.sort_unstable();
    Some(Plan::Keep { indices: keep, truncated: None })
}

fn words(seed: &mut u64, n: usize) -> String {
    let vocab = ["alpha", "beta", "gamma", "δέλτα", "日本", "tool", "result", "42", "!", "\n"];
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            vocab[(*seed % vocab.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn lazy_walk_equals_eager_rule() {
    let enc = Encoding::get("o200k_base").unwrap();
    let mut seed = 0x1234_5678_9abc_def1_u64;
    for case in 0..300 {
        let mut ms = vec![msg(Role::System, "You are terse.", false)];
        let n = 1 + case % 80;
        for i in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            match seed % 7 {
                0 => {
                    ms.push(msg(Role::Assistant, "", true));
                    let k = 1 + (seed % 3) as usize;
                    for _ in 0..k {
                        let body = words(&mut seed, 5 + i % 20);
                        ms.push(msg(Role::ToolResult, &body, false));
                    }
                }
                1 => ms.push(msg(Role::System, "Mid-course note.", false)),
                2 | 3 => ms.push(msg(Role::User, &words(&mut seed, 3 + i % 40), false)),
                _ => ms.push(msg(Role::Assistant, &words(&mut seed, 3 + i % 60), false)),
            }
        }
        let total: usize = ms.iter().map(|m| message_tokens(enc, m)).sum::<usize>() + 3;
        for max in [total, total - 1, total / 2, total / 5, 60] {
            for keep_system in [true, false] {
                let Some(expected) = eager(enc, &ms, max, keep_system) else { continue };
                assert_eq!(optimize(enc, &ms, max, keep_system, MARKER).unwrap(), expected, "case {case} max {max}");
            }
        }
    }
}

#[test]
fn newest_user_is_cut_to_fit() {
    let enc = Encoding::get("cl100k_base").unwrap();
    let big = "Summarise: ".to_string() + &"lorem ipsum ".repeat(3000) + "Thanks!";
    let ms = vec![msg(Role::System, "Be brief.", false), msg(Role::User, &big, false)];
    let Plan::Keep { indices, truncated: Some((1, cut)) } = optimize(enc, &ms, 200, true, MARKER).unwrap() else {
        panic!("expected a cut");
    };
    assert_eq!(indices, vec![0, 1]);
    let cut_msg = msg(Role::User, &cut, false);
    assert!(message_tokens(enc, &ms[0]) + message_tokens(enc, &cut_msg) + 3 <= 200);
    assert!(cut.starts_with("Summarise") && cut.ends_with("Thanks!"));
}

#[test]
fn truncation_never_exceeds_the_limit() {
    let enc = Encoding::get("o200k_base").unwrap();
    let texts = ["日本語😀👩‍👩‍👧テキスト".repeat(50), "word ".repeat(400), " ".repeat(300) + "x", "a".repeat(999)];
    for text in &texts {
        for max in [0, 1, 2, 3, 7, 50, 10_000] {
            for keep in [Keep::Start, Keep::End, Keep::Both] {
                let out = truncate(enc, text, max, keep, MARKER);
                assert!(count(enc, &out) <= max, "{keep:?} {max}");
                if count(enc, text) <= max {
                    assert_eq!(&out, text);
                }
            }
        }
    }
}
