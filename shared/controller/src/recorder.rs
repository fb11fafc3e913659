//! Events on any object, sent in the background so a slow Events API never holds up a
//! reconcile (kube-runtime's Recorder folds repeats into a series); notes are cut to the
//! Events API's 1 KiB.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

#[derive(Clone)]
pub struct Events {
    recorder: Recorder,
}

impl Events {
    /// Events reported by `reporter` (the controller's name, e.g. `lb-allocator`).
    pub fn new(client: kube::Client, reporter: &str) -> Self {
        Self {
            recorder: Recorder::new(client, reporter.into()),
        }
    }

    pub fn normal(&self, regarding: ObjectReference, reason: &str, action: &str, note: String) {
        self.publish(regarding, EventType::Normal, reason, action, note);
    }

    pub fn warning(&self, regarding: ObjectReference, reason: &str, action: &str, note: String) {
        self.publish(regarding, EventType::Warning, reason, action, note);
    }

    fn publish(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let recorder = self.recorder.clone();
        // Notes are limited to 1 KiB by the Events API.
        let mut note = note;
        if note.len() > 1024 {
            let mut cut = 1021;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push_str("...");
        }
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&event, &regarding).await {
                tracing::debug!(error = %e, reason = event.reason, "publishing an event failed");
            }
        });
    }
}
