//! Watches: newline-delimited `{"type", "object"}` events streamed over a chunked response, with
//! replay from a resourceVersion, selector transitions, bookmarks, `timeoutSeconds`, and the
//! 410 Gone ERROR event clients answer with a relist.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::Shared;
use crate::kinds::Kind;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Change, EventType, present};
use crate::table::{self, IncludeObject};

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// No resourceVersion, or "0": the current objects as ADDED, then what follows.
    Current,
    /// Every change after this resourceVersion.
    After(u64),
}

#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub start: Start,
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: the initial ADDED events end with an annotated BOOKMARK.
    pub initial_events_end: bool,
    pub timeout: Option<Duration>,
    /// `as=Table` (kubectl get --watch): objects are rendered as one-row Tables.
    pub table: Option<IncludeObject>,
}

impl WatchRequest {
    fn matches(&self, object: &Value) -> bool {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or_default();
        self.namespace.as_deref().is_none_or(|want| want == ns)
            && self.labels.matches(object)
            && self.fields.matches(object)
    }

    /// The event this watch sees for a change, if any. A modification that moves an object
    /// into or out of the selection is an ADDED or DELETED, as the apiserver's watch cache sends.
    fn event_for(&self, change: &Change) -> Option<Value> {
        if change.storage_key != self.kind.storage_key() {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.old.as_ref().map(|o| self.matches(o));
        let type_ = match (change.type_, now, before) {
            (EventType::Modified, true, Some(false)) => EventType::Added,
            (EventType::Modified, false, Some(true)) => EventType::Deleted,
            (_, true, _) => change.type_,
            _ => return None,
        };
        Some(self.render(type_.as_str(), present(&self.kind, &change.object)))
    }

    fn render(&self, type_: &str, object: Value) -> Value {
        let object = match self.table {
            Some(include) => {
                let rv = object["metadata"]["resourceVersion"].clone();
                table::render(
                    &self.kind,
                    &[object],
                    json!({"resourceVersion": rv}),
                    include,
                )
            }
            None => object,
        };
        json!({ "type": type_, "object": object })
    }

    fn bookmark(&self, rv: u64, initial_events_end: bool) -> Value {
        let mut metadata = json!({ "resourceVersion": rv.to_string() });
        if initial_events_end {
            metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
        }
        json!({
            "type": "BOOKMARK",
            "object": { "kind": self.kind.kind, "apiVersion": self.kind.api_version(), "metadata": metadata },
        })
    }
}

fn line(event: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(event).expect("JSON values serialize");
    bytes.push(b'\n');
    Bytes::from(bytes)
}

/// The ERROR event a watch ends with when its start is too old.
pub fn gone(err: &ApiError) -> Bytes {
    line(&json!({ "type": "ERROR", "object": err.to_status() }))
}

pub type Body = mpsc::Receiver<Result<Bytes, Infallible>>;

/// Starts a watch: returns the response body stream, fed by a task on the current runtime.
pub fn start(shared: Arc<Shared>, req: WatchRequest) -> Body {
    let (mut tx, rx) = mpsc::channel(256);
    let subscription = {
        let store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
        let replay = match req.start {
            Start::Current => Ok(store.watch_current(&req.kind.storage_key())),
            Start::After(rv) => store.watch_since(&req.kind.storage_key(), rv),
        };
        replay.map(|(events, rx)| (events, rx, store.resource_version()))
    };
    let mut closer = shared.closer.subscribe();
    let interval = shared.bookmark_interval;
    actix_web::rt::spawn(async move {
        let (replay, mut changes, mut last_rv) = match subscription {
            Ok(s) => s,
            Err(err) => {
                let _ = tx.send(Ok(gone(&err))).await;
                return;
            }
        };
        let initial = replay.iter().filter_map(|c| {
            // Synthetic ADDED events for current objects are not modifications.
            if req.start == Start::Current {
                req.matches(&c.object)
                    .then(|| req.render("ADDED", present(&req.kind, &c.object)))
            } else {
                req.event_for(c)
            }
        });
        for event in initial {
            if tx.send(Ok(line(&event))).await.is_err() {
                return;
            }
        }
        if req.initial_events_end
            && tx
                .send(Ok(line(&req.bookmark(last_rv, true))))
                .await
                .is_err()
        {
            return;
        }
        let deadline = req.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(change) => {
                        last_rv = change.rv;
                        if let Some(event) = req.event_for(&change)
                            && tx.send(Ok(line(&event))).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        let err = ApiError::expired("too old resource version: the watch fell behind");
                        let _ = tx.send(Ok(gone(&err))).await;
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = ticker.tick() => {
                    if tx.is_closed() {
                        return;
                    }
                    if req.bookmarks && tx.send(Ok(line(&req.bookmark(last_rv, false)))).await.is_err() {
                        return;
                    }
                }
                _ = sleep_until(deadline) => return,
                _ = closer.changed() => return,
            }
        }
    });
    rx
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
