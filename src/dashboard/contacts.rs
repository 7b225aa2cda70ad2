//! The contacts pages: the list searched by name or number (`/contacts`), one contact with its
//! numbers, source and calls (`/contacts/{id}`), and its edit form. They read and write through
//! the same domain functions as `/api/contacts` ([`contacts::list::list`],
//! [`contacts::read::read`], [`contacts::update::update`]), so the rules are the API's.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

use super::calls::{CallRow, when};
use super::{Chrome, PageError, PageMember, render};
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::contacts::list::ContactQuery;
use crate::contacts::update::ContactInput;
use crate::contacts::{self, ContactError, ContactView};
use crate::error::Path;
use crate::paging;

/// Contacts per page.
const PAGE_ROWS: u64 = 50;

struct Row {
    contact: ContactView,
    last: String,
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    chrome: Chrome,
    q: String,
    rows: Vec<Row>,
    older: Option<String>,
    newest: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    q: Option<String>,
    cursor: Option<String>,
}

fn contacts_href(q: &str, cursor: Option<&str>) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if !q.is_empty() {
        pairs.push(("q", q));
    }
    if let Some(cursor) = cursor {
        pairs.push(("cursor", cursor));
    }
    match serde_urlencoded::to_string(&pairs) {
        Ok(query) if !query.is_empty() => format!("/contacts?{query}"),
        _ => "/contacts".to_owned(),
    }
}

/// `/contacts`: newest first, searched by name, e-mail, company or number.
pub async fn list(
    State(state): State<AppState>,
    page: PageMember,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    page.member.require("Contact:Collection:List")?;
    let q = params.q.unwrap_or_default().trim().to_owned();
    let bad = |e: paging::PagingError| ContactError::InvalidQuery(e.to_string());
    let cursor = paging::parse_cursor(params.cursor.as_deref()).map_err(bad)?;
    let paged = cursor.is_some();
    let found = contacts::list::list(
        &state.db,
        page.member.org_id(),
        &ContactQuery {
            search: (!q.is_empty()).then(|| q.clone()),
            cursor,
            limit: PAGE_ROWS,
        },
    )
    .await?;
    Ok(render(&ContactsPage {
        chrome: page.chrome("contacts"),
        rows: found
            .items
            .into_iter()
            .map(|contact| Row {
                last: contact
                    .last_contacted_at
                    .as_ref()
                    .map(when)
                    .unwrap_or_default(),
                contact,
            })
            .collect(),
        older: found
            .next_cursor
            .map(|c| contacts_href(&q, Some(c.as_str()))),
        newest: paged.then(|| contacts_href(&q, None)),
        q,
    }))
}

/// One SMS on the contact page.
pub struct MessageRow {
    when: String,
    /// "Received" or "Sent".
    direction: &'static str,
    body: String,
    status: String,
    error_code: Option<i32>,
}

impl MessageRow {
    fn new(m: crate::messages::MessageView) -> Self {
        Self {
            when: when(&m.created_at),
            direction: if m.direction == "inbound" {
                "Received"
            } else {
                "Sent"
            },
            body: m.body.unwrap_or_default(),
            status: m.status,
            error_code: m.error_code,
        }
    }
}

#[derive(Template)]
#[template(path = "contact.html")]
struct ContactPage {
    chrome: Chrome,
    contact: ContactView,
    last: String,
    calls: Vec<CallRow>,
    /// The calls list filtered to this contact, when there are more calls than shown.
    more_calls: Option<String>,
    messages: Vec<MessageRow>,
    can_edit: bool,
    /// The form's values: what is stored, or what was typed when it did not save.
    form: ContactInput,
    /// (field, message) for each field that did not save.
    errors: Vec<(String, String)>,
}

impl ContactPage {
    fn value(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

async fn contact_page(
    state: &AppState,
    page: &PageMember,
    id: Uuid,
    form: Option<ContactInput>,
    errors: Vec<(String, String)>,
    flash: Option<String>,
) -> Result<ContactPage, PageError> {
    let found = contacts::read::read(&state.db, page.member.org_id(), id).await?;
    let mut chrome = page.chrome("contacts");
    chrome.flash = flash;
    let contact = found.contact;
    Ok(ContactPage {
        chrome,
        last: contact
            .last_contacted_at
            .as_ref()
            .map(when)
            .unwrap_or_default(),
        calls: found.recent_calls.into_iter().map(CallRow::new).collect(),
        more_calls: found
            .more_calls_cursor
            .map(|_| format!("/calls?contact_id={}", contact.id)),
        messages: found.messages.into_iter().map(MessageRow::new).collect(),
        can_edit: page.member.can("Contact:Instance:Update"),
        form: form.unwrap_or_else(|| ContactInput {
            name: contact.name.clone(),
            email: contact.email.clone(),
            company: contact.company.clone(),
            notes: contact.notes.clone(),
        }),
        errors,
        contact,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DetailParams {
    saved: Option<String>,
}

/// `/contacts/{id}`: the contact, its numbers and source, its calls and the edit form. Another
/// organization's contact is the 404 page.
pub async fn detail(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    Query(params): Query<DetailParams>,
) -> Result<Response, PageError> {
    page.member.require("Contact:Instance:Read")?;
    let flash = params.saved.map(|_| "Contact saved.".to_owned());
    Ok(render(
        &contact_page(&state, &page, id, None, Vec::new(), flash).await?,
    ))
}

/// The edit form's fields (beside its `csrf_token`).
#[derive(Debug, Default, Deserialize)]
pub struct ContactForm {
    name: Option<String>,
    email: Option<String>,
    company: Option<String>,
    notes: Option<String>,
}

/// The edit form: name, e-mail, company and notes. Saved, back to the contact; otherwise the
/// form again (422) with what was typed and what to change beside each field.
pub async fn save(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ContactForm>,
) -> Result<Response, PageError> {
    page.member.require("Contact:Instance:Update")?;
    let input = ContactInput {
        name: form.name,
        email: form.email,
        company: form.company,
        notes: form.notes,
    };
    match contacts::update::update(&state.db, page.member.org_id(), id, &input).await {
        Ok(_) => Ok(Redirect::to(&format!("/contacts/{id}?saved=1")).into_response()),
        Err(ContactError::InvalidFields(fields)) => {
            let errors = fields.into_iter().map(|e| (e.field, e.message)).collect();
            let html = contact_page(&state, &page, id, Some(input), errors, None).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&html)).into_response())
        }
        Err(other) => Err(other.into()),
    }
}
