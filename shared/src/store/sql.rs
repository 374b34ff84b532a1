//! What the two SQL backends (SQLite, PostgreSQL) share: the columns leads sort by, the
//! `LIKE` pattern of a search, and the page a filtered walk of the leads makes.

use crate::domain::lead::{Lead, LeadSort};
use crate::domain::page::Page;

use super::StoreResult;

/// The most records a filtered count or list reads per call; a filtered `total` counts at
/// most this many (`docs/architecture.md`, "Store").
pub(super) const FILTER_BUDGET: u64 = 500;

/// The column a lead list is sorted by (then by id).
pub(super) fn sort_column(sort: LeadSort) -> &'static str {
    match sort {
        LeadSort::CreatedAt => "created_at",
        LeadSort::UpdatedAt => "updated_at",
        LeadSort::Name => "sort_name",
        LeadSort::Score => "score",
        LeadSort::Status => "status",
    }
}

/// `%s%` with `%`, `_` and `\` escaped (`ESCAPE '\'`).
pub(super) fn like_pattern(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The page of a filtered list from the company's leads walked in the page's order, each
/// with whether it matches (at most [`FILTER_BUDGET`] of them): `offset` matches skipped,
/// then `limit` kept (and one more, to tell whether more follow). When the budget ran out
/// first, the next page continues after the last lead read (`Page::resume`).
pub(super) fn walked_page(
    walk: impl Iterator<Item = StoreResult<(Lead, bool)>>,
    limit: u32,
    offset: u64,
    total: u64,
) -> StoreResult<Page<Lead>> {
    let want = limit as usize + 1;
    let (mut items, mut skip, mut read, mut last) = (Vec::new(), offset, 0u64, None);
    for row in walk {
        let (lead, hit) = row?;
        read += 1;
        if hit {
            if skip > 0 {
                skip -= 1;
            } else {
                items.push(lead.clone());
            }
        }
        last = Some(lead);
        if items.len() == want {
            break;
        }
    }
    let mut found = Page::of(items, limit, total);
    if !found.has_more && read == FILTER_BUDGET {
        found.has_more = true;
        found.resume = last;
    }
    Ok(found)
}
