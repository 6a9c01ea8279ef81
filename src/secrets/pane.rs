//! The secrets pane.
