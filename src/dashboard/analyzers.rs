//! The analyzer pages: the list, and the editor to create, edit, attach to numbers and delete.
//! A rejected form comes back as it was typed, each problem beside its field, with status 422.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use uuid::Uuid;

use super::lists::Done;
use super::settings::NoFields;
use super::{Chrome, PageError, PageMember, render};
use crate::analyzers::{self, AnalyzerError, AnalyzerInput, AnalyzerView};
use crate::app::AppState;
use crate::auth::csrf::CsrfForm;
use crate::entity::phone_number;
use crate::error::{FieldError, Path};
use crate::phone_numbers;

struct Row {
    id: Uuid,
    name: String,
    active: bool,
    is_default: bool,
    /// The attached numbers in E.164.
    numbers: Vec<String>,
}

#[derive(Template)]
#[template(path = "analyzers.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    can_create: bool,
}

pub async fn list(
    State(state): State<AppState>,
    page: PageMember,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    page.member.require("Analyzer:Collection:List")?;
    let org = page.member.org_id();
    let numbers: HashMap<Uuid, String> = phone_numbers::list(&state.db, org)
        .await?
        .into_iter()
        .map(|n| (n.id, n.number))
        .collect();
    let rows = analyzers::list(&state.db, org)
        .await?
        .into_iter()
        .map(|a| Row {
            numbers: a
                .phone_number_ids
                .iter()
                .filter_map(|id| numbers.get(id).cloned())
                .collect(),
            id: a.id,
            name: a.name,
            active: a.active,
            is_default: a.is_default,
        })
        .collect();
    let mut chrome = page.chrome("analyzers");
    chrome.flash = match done.done.as_deref() {
        Some("created") => Some(
            "Analyzer created: it runs over the transcript of each recorded call to its numbers."
                .to_owned(),
        ),
        Some("saved") => Some("Analyzer saved: the next calls are analyzed with it.".to_owned()),
        Some("deleted") => Some("Analyzer deleted, with its results on past calls.".to_owned()),
        _ => None,
    };
    if done.done.is_some() {
        chrome = chrome.at("/analyzers");
    }
    Ok(render(&ListPage {
        chrome,
        rows,
        can_create: page.member.can("Analyzer:Collection:Create"),
    }))
}

/// The form as posted, and as shown again: every value as typed.
struct AnalyzerForm {
    name: String,
    prompt: String,
    active: bool,
    is_default: bool,
    /// The checked numbers' ids, as sent.
    phone_number_ids: Vec<String>,
}

impl AnalyzerForm {
    fn new_analyzer() -> Self {
        Self {
            name: String::new(),
            prompt: String::new(),
            active: true,
            is_default: false,
            phone_number_ids: Vec::new(),
        }
    }

    fn from_view(view: &AnalyzerView) -> Self {
        Self {
            name: view.name.clone(),
            prompt: view.prompt.clone(),
            active: view.active,
            is_default: view.is_default,
            phone_number_ids: view.phone_number_ids.iter().map(Uuid::to_string).collect(),
        }
    }

    /// Checkbox groups arrive as repeated keys, which `serde_urlencoded` cannot put in a `Vec`:
    /// the form is read as pairs. A checked box sends a value; an unchecked one sends nothing.
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let first = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        Self {
            name: first("name").unwrap_or_default(),
            prompt: first("prompt").unwrap_or_default(),
            active: first("active").is_some(),
            is_default: first("is_default").is_some(),
            phone_number_ids: pairs
                .iter()
                .filter(|(k, _)| k == "phone_number_id")
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    /// The API's input, or the problem of a number id that is not one (a browser sends only the
    /// listed ones).
    fn to_input(&self) -> Result<AnalyzerInput, FieldError> {
        let phone_number_ids = self
            .phone_number_ids
            .iter()
            .map(|raw| raw.parse::<Uuid>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| FieldError::new("phone_number_ids", "choose numbers from the list"))?;
        Ok(AnalyzerInput {
            name: self.name.clone(),
            prompt: self.prompt.clone(),
            active: self.active,
            is_default: self.is_default,
            phone_number_ids,
        })
    }
}

/// One of the organization's numbers, as a checkbox.
struct NumberChoice {
    id: Uuid,
    number: String,
    friendly_name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "analyzer_form.html")]
struct AnalyzerPage {
    chrome: Chrome,
    /// `None`: a new analyzer.
    analyzer_id: Option<Uuid>,
    /// The stored name (not the one being typed), or "New analyzer".
    heading: String,
    form: AnalyzerForm,
    numbers: Vec<NumberChoice>,
    /// Problems keyed by the API's field (`name`, `phone_number_ids`), in the order found.
    errors: Vec<(String, String)>,
    can_save: bool,
    can_delete: bool,
}

impl AnalyzerPage {
    fn new(
        page: &PageMember,
        stored: Option<(Uuid, &str)>,
        form: AnalyzerForm,
        numbers: Vec<phone_number::Model>,
    ) -> Self {
        let (can_save, can_delete) = match stored {
            None => (page.member.can("Analyzer:Collection:Create"), false),
            Some(_) => (
                page.member.can("Analyzer:Instance:Update"),
                page.member.can("Analyzer:Instance:Delete"),
            ),
        };
        let numbers = numbers
            .into_iter()
            .map(|n| NumberChoice {
                checked: form.phone_number_ids.contains(&n.id.to_string()),
                id: n.id,
                number: n.number,
                friendly_name: n.friendly_name,
            })
            .collect();
        Self {
            chrome: page.chrome("analyzers"),
            analyzer_id: stored.map(|(id, _)| id),
            heading: stored.map_or_else(|| "New analyzer".to_owned(), |(_, name)| name.to_owned()),
            form,
            numbers,
            errors: Vec::new(),
            can_save,
            can_delete,
        }
    }

    fn action(&self) -> String {
        match self.analyzer_id {
            Some(id) => format!("/analyzers/{id}"),
            None => "/analyzers".to_owned(),
        }
    }

    /// The messages for one field, or `None` when it is fine.
    fn error(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .errors
            .iter()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join(" "))
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|(f, _)| f == field)
    }

    /// The page again, with the problems beside their fields, as 422.
    fn rejected(mut self, errors: Vec<FieldError>) -> Response {
        self.errors = errors.into_iter().map(|e| (e.field, e.message)).collect();
        if self.analyzer_id.is_none() {
            self.chrome = self.chrome.at("/analyzers/new");
        }
        (StatusCode::UNPROCESSABLE_ENTITY, render(&self)).into_response()
    }

    /// After a save: the list, or the form again with what was wrong.
    fn after(self, saved: Result<AnalyzerView, AnalyzerError>) -> Result<Response, PageError> {
        match saved {
            Ok(_) => Ok(Redirect::to(if self.analyzer_id.is_none() {
                "/analyzers?done=created"
            } else {
                "/analyzers?done=saved"
            })
            .into_response()),
            Err(AnalyzerError::InvalidFields(errors)) => Ok(self.rejected(errors)),
            Err(e) => Err(e.into()),
        }
    }
}

pub async fn new(State(state): State<AppState>, page: PageMember) -> Result<Response, PageError> {
    page.member.require("Analyzer:Collection:Create")?;
    let numbers = phone_numbers::list(&state.db, page.member.org_id()).await?;
    let view = AnalyzerPage::new(&page, None, AnalyzerForm::new_analyzer(), numbers);
    Ok(render(&view))
}

pub async fn create(
    State(state): State<AppState>,
    page: PageMember,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    page.member.require("Analyzer:Collection:Create")?;
    let org = page.member.org_id();
    let form = AnalyzerForm::from_pairs(&pairs);
    let input = form.to_input();
    let view = AnalyzerPage::new(
        &page,
        None,
        form,
        phone_numbers::list(&state.db, org).await?,
    );
    match input {
        Ok(input) => view.after(analyzers::save::create(&state.db, org, input).await),
        Err(bad) => Ok(view.rejected(vec![bad])),
    }
}

pub async fn edit(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    page.member.require("Analyzer:Instance:Read")?;
    let org = page.member.org_id();
    let stored = analyzers::read(&state.db, org, id).await?;
    let form = AnalyzerForm::from_view(&stored);
    let numbers = phone_numbers::list(&state.db, org).await?;
    let view = AnalyzerPage::new(&page, Some((stored.id, &stored.name)), form, numbers);
    Ok(render(&view))
}

pub async fn save(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(pairs): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    page.member.require("Analyzer:Instance:Update")?;
    let org = page.member.org_id();
    let stored = analyzers::find(&state.db, org, id).await?;
    let form = AnalyzerForm::from_pairs(&pairs);
    let input = form.to_input();
    let numbers = phone_numbers::list(&state.db, org).await?;
    let view = AnalyzerPage::new(&page, Some((stored.id, &stored.name)), form, numbers);
    match input {
        Ok(input) => view.after(analyzers::save::update(&state.db, org, id, input).await),
        Err(bad) => Ok(view.rejected(vec![bad])),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    page: PageMember,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, PageError> {
    page.member.require("Analyzer:Instance:Delete")?;
    analyzers::delete::delete(&state.db, page.member.org_id(), id).await?;
    Ok(Redirect::to("/analyzers?done=deleted").into_response())
}
