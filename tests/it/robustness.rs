//! Nothing the console draws crashes it: every pane and overlay at every
//! terminal size. (Malformed reports, manifests, config files and envelopes
//! are in `props`.)

use std::panic::{AssertUnwindSafe, catch_unwind};

fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("panicked on {what}"))
}

#[test]
fn every_pane_and_overlay_draws_at_every_terminal_size() {
    use crate::console::{app, focus, render, typed};
    // Sizes around the minimum (40x10), narrow and tall, short and wide.
    let sizes: Vec<(u16, u16)> = (1..=12)
        .flat_map(|h| [1, 20, 39, 40, 41, 60, 80].map(|w| (w, h)))
        .chain(
            (35..=90)
                .step_by(5)
                .flat_map(|w| [(w, 24), (w, 11), (w, 60)]),
        )
        .chain([(300, 5), (300, 100), (40, 200)])
        .collect();
    for pane in [
        "overview",
        "sessions",
        "secrets",
        "scans",
        "audit",
        "operators",
        "activity",
    ] {
        for overlay in ["", "?", ":", "/"] {
            let mut app = app();
            focus(&mut app, pane);
            typed(&mut app, overlay);
            for &(w, h) in &sizes {
                no_panic(&format!("{pane} with {overlay:?} at {w}x{h}"), || {
                    render(&mut app, w, h);
                });
            }
        }
    }
}
