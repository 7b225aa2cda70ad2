//! Walking Twilio's paged lists as one stream of items.
//!
//! v2010 pages carry a relative `next_page_uri` next to the list; Events v1 pages carry an
//! absolute `meta.next_page_url`. Either way we follow the link (it holds the real cursor,
//! `PageToken`) until it is `null`, fetching the next page only when the consumer has taken
//! every item of the current one.

use futures_util::stream::{self, BoxStream, StreamExt};
use serde::de::DeserializeOwned;

use super::{ApiRequest, TwilioClient, TwilioError};

/// A stream of list items; it ends after the last page, or right after yielding an error.
pub type TwilioStream<T> = BoxStream<'static, Result<T, TwilioError>>;

/// One page of a list response.
pub(crate) trait ListPage: DeserializeOwned + Send + 'static {
    type Item: Send + 'static;

    /// The page's items and the link to the next page, if any.
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

/// Declares the page type of a v2010 list: `{ "<key>": [...], "next_page_uri": ..., ... }`.
macro_rules! v2010_page {
    ($name:ident, $key:ident, $item:ty) => {
        #[derive(Debug, serde::Deserialize)]
        pub(crate) struct $name {
            $key: Vec<$item>,
            #[serde(default)]
            next_page_uri: Option<String>,
        }

        impl $crate::client::ListPage for $name {
            type Item = $item;

            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.$key, self.next_page_uri)
            }
        }
    };
}

/// Declares the page type of an Events v1 list: `{ "<key>": [...], "meta": { "next_page_url" } }`.
macro_rules! events_page {
    ($name:ident, $key:ident, $item:ty) => {
        #[derive(Debug, serde::Deserialize)]
        pub(crate) struct $name {
            $key: Vec<$item>,
            #[serde(default)]
            meta: Option<$crate::client::EventsPageMeta>,
        }

        impl $crate::client::ListPage for $name {
            type Item = $item;

            fn into_parts(self) -> (Vec<$item>, Option<String>) {
                (self.$key, self.meta.and_then(|m| m.next_page_url))
            }
        }
    };
}

pub(crate) use {events_page, v2010_page};

#[derive(Debug, serde::Deserialize)]
pub(crate) struct EventsPageMeta {
    #[serde(default)]
    pub(crate) next_page_url: Option<String>,
}

struct State<T> {
    client: TwilioClient,
    buffered: std::vec::IntoIter<T>,
    next: Option<ApiRequest>,
    /// A problem with the next link, reported once this page's items are out.
    failed: Option<TwilioError>,
}

pub(super) fn paginate<P: ListPage>(
    client: TwilioClient,
    first: ApiRequest,
) -> TwilioStream<P::Item> {
    let state = State::<P::Item> {
        client,
        buffered: Vec::new().into_iter(),
        next: Some(first),
        failed: None,
    };
    stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.buffered.next() {
                return Some((Ok(item), state));
            }
            if let Some(e) = state.failed.take() {
                return Some((Err(e), state));
            }
            let request = state.next.take()?;
            let page = match state.client.send_json::<P>(&request).await {
                Ok(page) => page,
                Err(e) => return Some((Err(e), state)),
            };
            let (items, next_link) = page.into_parts();
            state.buffered = items.into_iter();
            if let Some(link) = next_link {
                match state.client.follow(request.op, &link) {
                    // A link back to the page we just read would loop forever.
                    Ok(next) if next.url == request.url => {
                        state.failed = Some(TwilioError::InvalidResponse {
                            status: 200,
                            detail: format!("{} next page link repeats the page", request.op.id),
                        });
                    }
                    Ok(next) => state.next = Some(next),
                    Err(e) => state.failed = Some(e),
                }
            }
        }
    })
    .boxed()
}
