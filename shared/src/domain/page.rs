//! Pagination shared by every list: `page`/`limit`, `sort`/`order`, keyset cursors.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::FieldErrors;

pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// The deepest `page`: a store reads what it skips, so at most the first
/// `MAX_PAGE * MAX_LIMIT` records are reached by number; deeper is for `cursor`, which
/// reads only its page. A bound on `page` alone, so that the contract can state it.
pub const MAX_PAGE: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

/// Where a keyset page starts: after the row with this sort value and id. Encoded with
/// one-letter keys, so that a cursor in a URL stays short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort field the cursor was made for.
    #[serde(rename = "s")]
    pub sort: String,
    #[serde(rename = "o")]
    pub order: Order,
    /// The last row's sort value.
    #[serde(rename = "v")]
    pub value: Value,
    /// The last row's id, the tie-breaker.
    pub id: String,
    /// How many rows came before the next page, where the list knows it: with a kept
    /// count, whether more follow is then known without reading one more row.
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(s).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// `page`, `limit` and `order` as asked for; the sort field is the resource's own.
#[derive(Debug, Clone, PartialEq)]
pub struct PageRequest {
    pub page: u32,
    pub limit: u32,
    pub order: Order,
    pub cursor: Option<Cursor>,
}

impl PageRequest {
    pub fn offset(&self) -> u64 {
        u64::from(self.page - 1) * u64::from(self.limit)
    }
}

/// Reads the pagination parameters, recording what is wrong in `errors`.
/// `sort` is the resource's already-checked sort field name, used to check the cursor.
pub fn parse_page(
    get: impl Fn(&str) -> Option<String>,
    sort: &str,
    default_order: Order,
    errors: &mut FieldErrors,
) -> PageRequest {
    let mut page = 1;
    if let Some(p) = get("page") {
        match p.parse::<u32>() {
            Ok(n) if (1..=MAX_PAGE).contains(&n) => page = n,
            _ => errors.add(
                "page",
                format!("must be an integer from 1 to {MAX_PAGE}: continue further with `cursor` (each answer's next_cursor)"),
            ),
        }
    }
    let mut limit = DEFAULT_LIMIT;
    if let Some(l) = get("limit") {
        match l.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => limit = n,
            _ => errors.add("limit", format!("must be an integer from 1 to {MAX_LIMIT}")),
        }
    }
    let order = match get("order").as_deref() {
        None => default_order,
        Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(_) => {
            errors.add("order", "must be one of: asc, desc");
            default_order
        }
    };
    let cursor = get("cursor").and_then(|c| match Cursor::decode(&c) {
        Some(cur) if cur.sort == sort && cur.order == order => Some(cur),
        Some(_) => {
            errors.add("cursor", "was made for another sort or order");
            None
        }
        None => {
            errors.add("cursor", "is not a valid cursor");
            None
        }
    });
    PageRequest {
        page,
        limit,
        order,
        cursor,
    }
}

/// One page of a list, as a store returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    /// Whether rows follow the last item in this order.
    pub has_more: bool,
    /// Set when a filtered read spent its budget before filling the page: the last record
    /// it read, after which the next page continues (the cursor is made from it).
    pub resume: Option<T>,
}

impl<T> Page<T> {
    /// A page from `items` read one past `limit` (the extra one says more follow).
    pub fn of(mut items: Vec<T>, limit: u32, total: u64) -> Page<T> {
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);
        Page {
            items,
            total,
            has_more,
            resume: None,
        }
    }
}

/// The `pagination` object of a list envelope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pagination {
    pub page: u32,
    pub limit: u32,
    pub total: u64,
    pub pages: u64,
    #[serde(rename = "hasNext")]
    pub has_next: bool,
    #[serde(rename = "hasPrev")]
    pub has_prev: bool,
}

impl Pagination {
    pub fn new(req: &PageRequest, total: u64, has_more: bool) -> Self {
        let keyset = req.cursor.is_some();
        Pagination {
            page: req.page,
            limit: req.limit,
            total,
            pages: total.div_ceil(u64::from(req.limit)),
            has_next: has_more,
            has_prev: keyset || req.page > 1,
        }
    }
}
