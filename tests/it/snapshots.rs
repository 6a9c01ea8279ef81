//! Snapshots of whole frames: the layout at 80x24 and 200x60 as text, and
//! every bundled theme's styles (ratatui's buffer debug output names each
//! cell run's colours), so a layout or theme change shows up in review.

use windflow::console::app::Mode;
use windflow::console::theme::{BUNDLED, ColorMode};

use crate::console::{app, app_with, render, screen, settings, typed};

#[test]
fn layout_80x24() {
    insta::assert_snapshot!(screen(&mut app(), 80, 24));
}

#[test]
fn layout_200x60() {
    insta::assert_snapshot!(screen(&mut app(), 200, 60));
}

#[test]
fn activity_80x24() {
    let mut app = app();
    crate::console::focus(&mut app, "activity");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn help_80x24() {
    let mut app = app();
    typed(&mut app, "?");
    assert!(matches!(app.mode, Mode::Help(_)));
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn palette_80x24() {
    let mut app = app();
    typed(&mut app, ":theme ");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn palette_commands_show_their_summaries_80x24() {
    let mut app = app();
    typed(&mut app, ":");
    let screen = screen(&mut app, 80, 24);
    // Each command's summary is shown whole, not cut at the command's width.
    assert!(
        screen.contains("readonly  Refuse every state-changing action"),
        "{screen}"
    );
    insta::assert_snapshot!(screen);
}

#[test]
fn themes_80x24() {
    for (name, _) in BUNDLED {
        let mut app = app_with(settings(), name);
        let term = render(&mut app, 80, 24);
        insta::assert_debug_snapshot!(format!("theme_{name}"), term.backend().buffer());
    }
}

#[test]
fn no_color_has_no_colours() {
    let mut s = settings();
    s.color_mode = ColorMode::None;
    let mut app = app_with(s, "dark");
    typed(&mut app, "/sto");
    let term = render(&mut app, 80, 24);
    for cell in term.backend().buffer().content() {
        assert_eq!(cell.fg, ratatui::style::Color::Reset);
        assert_eq!(cell.bg, ratatui::style::Color::Reset);
    }
}
