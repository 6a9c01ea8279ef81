//! The Operators pane in the console: the list, step-up before every change,
//! typed confirmations, role checks, and backup codes shown once.

use std::time::Duration;

use crossterm::event::KeyCode;
use secrecy::SecretString;
use windflow::auth::service::{AuthEvent, AuthRequest, Change};
use windflow::auth::{MfaState, OperatorStatus, Role};
use windflow::console::app::{App, Mode, Msg, Request};
use windflow::service::ServiceEvent;

use crate::console::{app_with, press, screen, settings, typed};

fn op(name: &str, role: Role, mfa: MfaState, backup: usize, failures: u32) -> OperatorStatus {
    OperatorStatus {
        name: name.into(),
        role,
        created_at: 1_750_000_000,
        mfa,
        backup_codes_left: backup,
        failures,
        locked_until: None,
    }
}

fn focus_operators(app: &mut App) {
    let i = windflow::console::panes()
        .iter()
        .position(|p| p.id() == "operators")
        .unwrap();
    app.focus_pane(i);
}

fn auth(app: &mut App, ev: AuthEvent) -> Vec<Request> {
    app.update(Msg::Service(ServiceEvent::Auth(ev)))
}

/// The console signed in as alice (admin, no sign-in gate), on the Operators
/// pane with three operators, and a second factor older than the step-up window.
fn operators_app() -> App {
    let mut s = settings();
    s.utc_clock = true;
    s.step_up_window = Duration::ZERO;
    let mut app = app_with(s, "dark");
    assert!(
        app.start()
            .iter()
            .any(|r| matches!(r, Request::Auth(AuthRequest::Operators))),
        "the list is asked for when the console opens"
    );
    focus_operators(&mut app);
    auth(
        &mut app,
        AuthEvent::Operators(vec![
            op("alice", Role::Admin, MfaState::Active, 10, 0),
            op("bob", Role::Viewer, MfaState::Active, 1, 2),
            op("carol", Role::Operator, MfaState::Pending, 0, 0),
        ]),
    );
    app
}

#[test]
fn lists_operators_with_their_second_factor() {
    let mut app = operators_app();
    let text = screen(&mut app, 80, 24);
    insta::assert_snapshot!(text);
    assert!(
        text.contains("alice (you)") && text.contains("◐ pending") && text.contains("2 failed")
    );
}

#[test]
fn removing_needs_a_fresh_code_then_the_typed_name() {
    let mut app = operators_app();
    typed(&mut app, "j");
    assert!(typed(&mut app, "D").is_empty());
    assert!(
        matches!(app.mode, Mode::StepUp(_)),
        "a stale second factor asks first"
    );
    typed(&mut app, "123456");
    let reqs = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(
            &reqs[..],
            [Request::Auth(AuthRequest::StepUp {
                action: "operators.manage",
                ..
            })]
        ),
        "{reqs:?}"
    );
    auth(
        &mut app,
        AuthEvent::SteppedUp {
            action: "operators.manage",
        },
    );
    assert!(
        matches!(app.mode, Mode::Confirm(_)),
        "then the confirmation"
    );
    assert!(screen(&mut app, 80, 24).contains("Remove operator bob?"));
    assert!(
        press(&mut app, KeyCode::Enter).is_empty(),
        "the name must be typed"
    );
    typed(&mut app, "bob");
    let reqs = press(&mut app, KeyCode::Enter);
    let [Request::Auth(AuthRequest::Manage { actor, change })] = &reqs[..] else {
        panic!("{reqs:?}")
    };
    assert_eq!(actor, "alice");
    assert_eq!(change, &Change::Remove { name: "bob".into() });

    // The service answers with the new list; a refusal is shown as it is.
    auth(
        &mut app,
        AuthEvent::Managed {
            message: "removed operator bob".into(),
            operators: vec![op("alice", Role::Admin, MfaState::Active, 10, 0)],
            token: None,
        },
    );
    let text = screen(&mut app, 80, 24);
    assert!(
        text.contains("Operators (1)") && !text.contains("bob "),
        "{text}"
    );
    auth(
        &mut app,
        AuthEvent::ManageFailed {
            reason: "alice is the last admin".into(),
        },
    );
    assert!(screen(&mut app, 80, 24).contains("alice is the last admin"));
}

#[test]
fn promote_and_reset_name_the_change() {
    let mut app = operators_app();
    typed(&mut app, "j");
    typed(&mut app, "+");
    auth(
        &mut app,
        AuthEvent::SteppedUp {
            action: "operators.manage",
        },
    );
    assert!(screen(&mut app, 80, 24).contains("Make bob operator?"));
    let reqs = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(
            &reqs[..],
            [Request::Auth(AuthRequest::Manage {
                change: Change::SetRole {
                    role: Role::Operator,
                    ..
                },
                ..
            })]
        ),
        "{reqs:?}"
    );

    // With a zero step-up window every change asks again.
    typed(&mut app, "X");
    assert!(matches!(app.mode, Mode::StepUp(_)));
    auth(
        &mut app,
        AuthEvent::SteppedUp {
            action: "mfa.reset",
        },
    );
    assert!(screen(&mut app, 80, 24).contains("Reset the second factor of bob?"));
    typed(&mut app, "bob");
    let reqs = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(
            &reqs[..],
            [Request::Auth(AuthRequest::Manage {
                change: Change::ResetMfa { .. },
                ..
            })]
        ),
        "{reqs:?}"
    );
}

#[test]
fn a_viewer_may_look_but_not_change() {
    let mut s = settings();
    s.sign_in = true;
    let mut app = app_with(s, "dark");
    app.start();
    auth(
        &mut app,
        AuthEvent::Ready {
            has_operators: true,
        },
    );
    typed(&mut app, "123456");
    press(&mut app, KeyCode::Enter);
    let reqs = auth(
        &mut app,
        AuthEvent::SignedIn {
            operator: "alice".into(),
            role: Role::Viewer,
        },
    );
    assert!(
        reqs.iter()
            .any(|r| matches!(r, Request::Auth(AuthRequest::Operators)))
    );
    focus_operators(&mut app);
    auth(
        &mut app,
        AuthEvent::Operators(vec![op("alice", Role::Viewer, MfaState::Active, 10, 0)]),
    );
    for key in ["D", "X", "+"] {
        assert!(typed(&mut app, key).is_empty());
        assert!(
            matches!(app.mode, Mode::Normal),
            "{key}: refused before any code is asked"
        );
        assert!(
            app.message.as_ref().unwrap().1.contains("needs admin"),
            "{key}"
        );
    }
}

#[test]
fn backup_codes_are_shown_once_and_copied_on_request() {
    let mut app = operators_app();
    typed(&mut app, "B");
    auth(&mut app, AuthEvent::SteppedUp { action: "mfa.self" });
    assert!(screen(&mut app, 80, 24).contains("Replace your backup codes?"));
    let reqs = press(&mut app, KeyCode::Enter);
    assert!(
        matches!(
            &reqs[..],
            [Request::Auth(AuthRequest::RegenerateBackupCodes { operator })] if operator == "alice"
        ),
        "{reqs:?}"
    );
    let codes: Vec<SecretString> = (0..10)
        .map(|i| SecretString::from(format!("code{i:01}-abcde")))
        .collect();
    let reqs = auth(
        &mut app,
        AuthEvent::BackupCodes {
            operator: "alice".into(),
            codes,
        },
    );
    assert!(
        reqs.iter()
            .any(|r| matches!(r, Request::Auth(AuthRequest::Operators))),
        "the counts refresh"
    );
    let text = screen(&mut app, 80, 24);
    assert!(
        text.contains("code0-abcde") && text.contains("code9-abcde"),
        "{text}"
    );
    let reqs = typed(&mut app, "y");
    let [Request::Copy(copied)] = &reqs[..] else {
        panic!("{reqs:?}")
    };
    assert_eq!(copied.lines().count(), 10);
    press(&mut app, KeyCode::Esc);
    let text = screen(&mut app, 80, 24);
    assert!(
        !text.contains("code0-abcde"),
        "esc closes the codes for good"
    );
    assert!(matches!(&typed(&mut app, "y")[..], [Request::Copy(name)] if name == "alice"));
}
