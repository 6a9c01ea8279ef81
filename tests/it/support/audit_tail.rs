//! The real audit service in a test: what it sends the Audit pane, applied
//! to a model of the pane's ring (as the pane applies it), and what it sends
//! the console's common channel, kept in order.

use std::time::{Duration, Instant};

use windflow::audit::SecurityEvent;
use windflow::audit::alert::AlertState;
use windflow::audit::query::Source;
use windflow::audit::service::{self, AuditEvent};
use windflow::audit::settings::AuditSettings;
use windflow::audit::tail::Ring;
use windflow::service::{DomainRx, EventRx, ServiceEvent};

pub struct Tailed {
    rx: DomainRx<AuditEvent>,
    common: EventRx,
    pub ring: Ring,
    pub source: Option<Source>,
    pub behind: bool,
    pub error: Option<String>,
    pub alerts: AlertState,
    /// Resets seen so far.
    pub resets: usize,
    /// Every event of the common channel so far.
    pub log: Vec<ServiceEvent>,
}

impl Tailed {
    /// The audit service of `settings` over `data_dir`, started (and its
    /// alert delivery, when `store` is given).
    pub fn spawn(
        settings: &AuditSettings,
        data_dir: &std::path::Path,
        store: Option<std::sync::Arc<windflow::store::Store>>,
    ) -> Self {
        let (sink, common, rx) = windflow::service::detached();
        if let Some(store) = store {
            service::spawn_alerts(settings, data_dir, store, sink.clone());
        }
        service::spawn(settings, data_dir, sink).unwrap();
        Self {
            rx,
            common,
            ring: Ring::new(settings.tail_capacity),
            source: None,
            behind: false,
            error: None,
            alerts: AlertState::default(),
            resets: 0,
            log: Vec::new(),
        }
    }

    fn apply(&mut self, ev: AuditEvent) {
        match ev {
            AuditEvent::Reset { source, events } => {
                self.ring = Ring::new(self.ring.capacity());
                self.ring.skip(events.skipped);
                events.events.into_iter().for_each(|e| self.ring.push(e));
                self.source = Some(source);
                self.resets += 1;
            }
            AuditEvent::Events(b) => {
                self.ring.skip(b.skipped);
                b.events.into_iter().for_each(|e| self.ring.push(e));
            }
            AuditEvent::Reading { behind, error } => {
                self.behind = behind;
                self.error = error;
            }
            AuditEvent::Alerts(a) => self.alerts = a,
            AuditEvent::Alertmanager(_) => {}
        }
    }

    /// Applies what the service sends until `done` holds (20 s at most).
    pub async fn until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}: source {:?}, {} events, error {:?}",
                self.source,
                self.ring.len(),
                self.error
            );
            tokio::select! {
                Some(ev) = self.rx.recv() => self.apply(ev),
                Some(ev) = self.common.recv() => self.log.push(ev),
                () = tokio::time::sleep(left) => {}
            }
        }
    }

    /// Applies whatever the service has sent already.
    pub fn settle(&mut self) {
        loop {
            let evs = self.rx.drain();
            if evs.is_empty() {
                break;
            }
            evs.into_iter().for_each(|e| self.apply(e));
        }
        while let Ok(ev) = self.common.try_recv() {
            self.log.push(ev);
        }
    }

    pub fn events(&self) -> Vec<&SecurityEvent> {
        self.ring.iter().collect()
    }

    /// The users of the events held, oldest first.
    pub fn users(&self) -> Vec<&str> {
        self.ring
            .iter()
            .map(|e| e.user_id.as_deref().unwrap_or("-"))
            .collect()
    }

    /// Whether an activity line containing `text` was sent.
    pub fn said(&self, text: &str) -> bool {
        self.log
            .iter()
            .any(|e| matches!(e, ServiceEvent::Activity { message, .. } if message.contains(text)))
    }
}
