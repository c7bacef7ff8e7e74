//! tiktoken's byte-pair merge (ported from openai/tiktoken via tiktoken-rs, MIT), returning the
//! token end offsets inside a piece instead of ranks: counting needs their number, truncation
//! their positions.
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

type Ranks = FxHashMap<Vec<u8>, u32>;

/// Pieces this long use the heap merge (O(n log n)); shorter ones the cache-friendly O(n·m) scan,
/// as tiktoken does. Long runs of one character would be quadratic otherwise.
const LARGE_PIECE: usize = 100;

/// Number of tokens `piece` encodes to.
#[inline]
pub fn count_piece(piece: &[u8], ranks: &Ranks) -> usize {
    if piece.len() <= 1 || ranks.contains_key(piece) {
        return piece.len().min(1);
    }
    let mut n = 0;
    merge(piece, ranks, |_| n += 1);
    n
}

/// Pushes `base + end` for each token of `piece`.
pub fn piece_ends(piece: &[u8], ranks: &Ranks, base: usize, out: &mut Vec<usize>) {
    if piece.is_empty() {
        return;
    }
    if piece.len() == 1 || ranks.contains_key(piece) {
        out.push(base + piece.len());
        return;
    }
    merge(piece, ranks, |end| out.push(base + end));
}

fn merge<F: FnMut(usize)>(piece: &[u8], ranks: &Ranks, emit: F) {
    if piece.len() >= LARGE_PIECE {
        merge_large(piece, ranks, emit);
    } else {
        merge_small(piece, ranks, emit);
    }
}

#[inline]
fn rank_of(ranks: &Ranks, bytes: &[u8]) -> u32 {
    ranks.get(bytes).copied().unwrap_or(u32::MAX)
}

fn merge_small<F: FnMut(usize)>(piece: &[u8], ranks: &Ranks, mut emit: F) {
    // (start, rank of the pair starting here); two sentinels at the end.
    let mut parts: Vec<(usize, u32)> = Vec::with_capacity(piece.len() + 1);
    let mut min_rank = (u32::MAX, usize::MAX);
    for i in 0..piece.len() - 1 {
        let rank = rank_of(ranks, &piece[i..i + 2]);
        if rank < min_rank.0 {
            min_rank = (rank, i);
        }
        parts.push((i, rank));
    }
    parts.push((piece.len() - 1, u32::MAX));
    parts.push((piece.len(), u32::MAX));

    let get_rank = |parts: &Vec<(usize, u32)>, i: usize| {
        if i + 3 < parts.len() {
            rank_of(ranks, &piece[parts[i].0..parts[i + 3].0])
        } else {
            u32::MAX
        }
    };

    while min_rank.0 != u32::MAX {
        let i = min_rank.1;
        if i > 0 {
            parts[i - 1].1 = get_rank(&parts, i - 1);
        }
        parts[i].1 = get_rank(&parts, i);
        parts.remove(i + 1);
        min_rank = (u32::MAX, usize::MAX);
        for (i, &(_, rank)) in parts[..parts.len() - 1].iter().enumerate() {
            if rank < min_rank.0 {
                min_rank = (rank, i);
            }
        }
    }
    for w in parts.windows(2) {
        emit(w[1].0);
    }
}

#[derive(Eq, PartialEq, Clone, Copy)]
struct Merge {
    start: usize,
    rank: u32,
}

impl Ord for Merge {
    // Min-heap on (rank, start): lowest rank first, leftmost on ties, as tiktoken.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.rank.cmp(&self.rank).then_with(|| other.start.cmp(&self.start))
    }
}

impl PartialOrd for Merge {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

struct State {
    prev: usize,
    end: usize,
    next_end: usize,
    next_rank: u32,
}

fn merge_large<F: FnMut(usize)>(piece: &[u8], ranks: &Ranks, mut emit: F) {
    let n = piece.len();
    let mut state: Vec<State> = Vec::with_capacity(n);
    let mut heap = BinaryHeap::with_capacity(n);
    for i in 0..n {
        state.push(State { prev: i.wrapping_sub(1), end: i + 1, next_end: i + 2, next_rank: u32::MAX });
    }
    for i in 0..n - 1 {
        let rank = rank_of(ranks, &piece[i..i + 2]);
        if rank != u32::MAX {
            heap.push(Merge { start: i, rank });
            state[i].next_rank = rank;
        }
    }

    let potential_merge = |state: &mut Vec<State>, heap: &mut BinaryHeap<Merge>, start: usize, next_end: usize| {
        state[start].next_end = next_end;
        state[start].next_rank = u32::MAX;
        if next_end <= n {
            let rank = rank_of(ranks, &piece[start..next_end]);
            if rank != u32::MAX {
                heap.push(Merge { start, rank });
                state[start].next_rank = rank;
            }
        }
    };

    while let Some(left) = heap.pop() {
        if left.rank != state[left.start].next_rank {
            continue; // invalidated
        }
        let left_start = left.start;
        let right_start = state[left_start].end;
        let right_end = state[left_start].next_end;
        let right_next_end = state[right_start].next_end;
        state[left_start].end = right_end;
        potential_merge(&mut state, &mut heap, left_start, right_next_end);
        if right_end < n {
            state[right_end].prev = left_start;
        }
        if left_start > 0 {
            let prev_start = state[left_start].prev;
            potential_merge(&mut state, &mut heap, prev_start, right_end);
        }
        state[right_start].next_rank = u32::MAX;
    }

    let mut i = 0;
    while i < n {
        i = state[i].end;
        emit(i);
    }
}
