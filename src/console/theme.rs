//! Colour themes: TOML files that give a colour to each semantic role.
//!
//! The colour mode comes from the environment: `NO_COLOR` (non-empty) turns
//! every colour off (emphasis stays as bold/reverse), a `COLORTERM` of
//! `truecolor` or `24bit` allows RGB, anything else gets the nearest of the
//! 16 ANSI colours.

use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::tomlpos::FileError;

/// Themes shipped inside the binary (the files in `themes/`).
pub const BUNDLED: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("terminal", include_str!("../../themes/terminal.toml")),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    None,
    Ansi16,
    /// The xterm 256-colour palette (`TERM=*-256color` without `COLORTERM`,
    /// as over SSH, which does not forward `COLORTERM` by default).
    Ansi256,
    TrueColor,
}

impl ColorMode {
    /// Reads `NO_COLOR`, `COLORTERM` and `TERM`.
    pub fn detect() -> Self {
        Self::from_env_term(
            std::env::var_os("NO_COLOR").map(|v| v.to_string_lossy().into_owned()),
            std::env::var("COLORTERM").ok(),
            std::env::var("TERM").ok(),
        )
    }

    pub fn from_env(no_color: Option<String>, colorterm: Option<String>) -> Self {
        Self::from_env_term(no_color, colorterm, None)
    }

    pub fn from_env_term(
        no_color: Option<String>,
        colorterm: Option<String>,
        term: Option<String>,
    ) -> Self {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return Self::None;
        }
        match colorterm.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("truecolor" | "24bit") => Self::TrueColor,
            _ if term.is_some_and(|t| t.ends_with("-256color")) => Self::Ansi256,
            _ => Self::Ansi16,
        }
    }
}

/// A colour as written in a theme file: `#rrggbb`, an ANSI name (`red`,
/// `lightblue`, `darkgray`), an index (`42`) or `reset` (the terminal's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThemeColor(pub Color);

impl FromStr for ThemeColor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some(hex) = t.strip_prefix('#') {
            if hex.len() == 6
                && let Ok(v) = u32::from_str_radix(hex, 16)
            {
                return Ok(Self(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)));
            }
            return Err(format!("`{s}` is not a #rrggbb colour"));
        }
        if let Ok(i) = t.parse::<u8>() {
            return Ok(Self(Color::Indexed(i)));
        }
        let c = match t.to_ascii_lowercase().replace(['_', '-', ' '], "").as_str() {
            "reset" | "default" | "terminal" => Color::Reset,
            "black" => Color::Black,
            "red" => Color::Red,
            "green" => Color::Green,
            "yellow" => Color::Yellow,
            "blue" => Color::Blue,
            "magenta" => Color::Magenta,
            "cyan" => Color::Cyan,
            "gray" | "grey" => Color::Gray,
            "darkgray" | "darkgrey" => Color::DarkGray,
            "lightred" => Color::LightRed,
            "lightgreen" => Color::LightGreen,
            "lightyellow" => Color::LightYellow,
            "lightblue" => Color::LightBlue,
            "lightmagenta" => Color::LightMagenta,
            "lightcyan" => Color::LightCyan,
            "white" => Color::White,
            _ => {
                return Err(format!(
                    "unknown colour `{s}` (use #rrggbb, an ANSI name or an index)"
                ));
            }
        };
        Ok(Self(c))
    }
}

impl<'de> Deserialize<'de> for ThemeColor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The semantic roles every theme fills.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Palette {
    pub text: ThemeColor,
    pub muted: ThemeColor,
    pub accent: ThemeColor,
    pub ok: ThemeColor,
    pub warn: ThemeColor,
    pub danger: ThemeColor,
    pub critical: ThemeColor,
    pub selection_fg: ThemeColor,
    pub selection_bg: ThemeColor,
    pub border: ThemeColor,
    pub border_focus: ThemeColor,
    pub title: ThemeColor,
    pub highlight_fg: ThemeColor,
    pub highlight_bg: ThemeColor,
    pub bar_fg: ThemeColor,
    pub bar_bg: ThemeColor,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    colors: Palette,
}

/// A loaded theme, resolved for the terminal's colour mode.
#[derive(Clone, Debug)]
pub struct Theme {
    pub name: String,
    pub mode: ColorMode,
    palette: Palette,
}

/// A semantic role, for styles picked at run time (a health state, a severity).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Text,
    Muted,
    Accent,
    Ok,
    Warn,
    Danger,
    Critical,
}

impl Theme {
    pub fn bundled(name: &str, mode: ColorMode) -> Result<Self, FileError> {
        let (n, src) = BUNDLED
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| FileError::new(Path::new(name), format!("no theme named `{name}`")))?;
        Self::parse(src, Path::new(&format!("themes/{n}.toml")), mode)
    }

    pub fn parse(src: &str, path: &Path, mode: ColorMode) -> Result<Self, FileError> {
        let file: ThemeFile =
            toml::from_str(src).map_err(|e| FileError::from_toml(path, src, &e))?;
        Ok(Self {
            name: file.name,
            mode,
            palette: file.colors,
        })
    }

    /// The colour as the terminal will get it.
    pub fn color(&self, c: ThemeColor) -> Color {
        match self.mode {
            ColorMode::None => Color::Reset,
            ColorMode::TrueColor => c.0,
            ColorMode::Ansi256 => to_ansi256(c.0),
            ColorMode::Ansi16 => to_ansi16(c.0),
        }
    }

    fn fg(&self, c: ThemeColor) -> Style {
        match self.mode {
            ColorMode::None => Style::default(),
            _ => Style::default().fg(self.color(c)),
        }
    }

    fn fg_bg(&self, fg: ThemeColor, bg: ThemeColor) -> Style {
        match self.mode {
            ColorMode::None => Style::default(),
            _ => Style::default().fg(self.color(fg)).bg(self.color(bg)),
        }
    }

    pub fn text(&self) -> Style {
        self.fg(self.palette.text)
    }

    pub fn muted(&self) -> Style {
        let s = self.fg(self.palette.muted);
        if self.mode == ColorMode::None {
            s.add_modifier(Modifier::DIM)
        } else {
            s
        }
    }

    pub fn accent(&self) -> Style {
        self.fg(self.palette.accent).add_modifier(Modifier::BOLD)
    }

    pub fn role(&self, role: Role) -> Style {
        let p = &self.palette;
        match role {
            Role::Text => self.text(),
            Role::Muted => self.muted(),
            Role::Accent => self.accent(),
            Role::Ok => self.fg(p.ok),
            Role::Warn => self.fg(p.warn).add_modifier(Modifier::BOLD),
            Role::Danger => self.fg(p.danger).add_modifier(Modifier::BOLD),
            Role::Critical => self
                .fg(p.critical)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        }
    }

    /// A badge: the role's colour as background.
    pub fn badge(&self, role: Role) -> Style {
        let p = &self.palette;
        let bg = match role {
            Role::Ok => p.ok,
            Role::Warn => p.warn,
            Role::Danger | Role::Critical => p.danger,
            Role::Accent => p.accent,
            Role::Text | Role::Muted => p.muted,
        };
        match self.mode {
            ColorMode::None => Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            _ => self.fg_bg(p.bar_bg, bg).add_modifier(Modifier::BOLD),
        }
    }

    /// A badge in an arbitrary colour (the environment's).
    pub fn badge_color(&self, c: ThemeColor) -> Style {
        match self.mode {
            ColorMode::None => Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            _ => Style::default()
                .fg(self.color(self.palette.bar_bg))
                .bg(self.color(c))
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn selection(&self) -> Style {
        match self.mode {
            ColorMode::None => Style::default().add_modifier(Modifier::REVERSED),
            _ => self.fg_bg(self.palette.selection_fg, self.palette.selection_bg),
        }
    }

    /// Text that matched a filter or search.
    pub fn highlight(&self) -> Style {
        match self.mode {
            ColorMode::None => Style::default().add_modifier(Modifier::UNDERLINED | Modifier::BOLD),
            _ => self
                .fg_bg(self.palette.highlight_fg, self.palette.highlight_bg)
                .add_modifier(Modifier::BOLD),
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.fg(self.palette.border_focus)
        } else {
            self.fg(self.palette.border)
        }
    }

    pub fn title(&self) -> Style {
        self.fg(self.palette.title).add_modifier(Modifier::BOLD)
    }

    /// The pane bar and status bar.
    pub fn bar(&self) -> Style {
        self.fg_bg(self.palette.bar_fg, self.palette.bar_bg)
    }

    /// The focused tab in the pane bar.
    pub fn bar_active(&self) -> Style {
        match self.mode {
            ColorMode::None => Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            _ => self
                .fg_bg(self.palette.bar_bg, self.palette.accent)
                .add_modifier(Modifier::BOLD),
        }
    }
}

/// The nearest of the 16 ANSI colours (xterm's default palette) to an RGB colour.
pub fn to_ansi16(c: Color) -> Color {
    let Color::Rgb(r, g, b) = c else { return c };
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let bright = max > 200;
    // A colour with a hue keeps its hue (a pastel green stays green, not
    // grey: health states must stay apart); greys go by lightness.
    if max - min >= 40 {
        let hue = hue_degrees(r, g, b);
        let (dark, light) = match hue {
            h if !(20.0..335.0).contains(&h) => (Color::Red, Color::LightRed),
            h if h < 70.0 => (Color::Yellow, Color::LightYellow),
            h if h < 160.0 => (Color::Green, Color::LightGreen),
            h if h < 200.0 => (Color::Cyan, Color::LightCyan),
            h if h < 260.0 => (Color::Blue, Color::LightBlue),
            _ => (Color::Magenta, Color::LightMagenta),
        };
        return if bright { light } else { dark };
    }
    match (u16::from(r) + u16::from(g) + u16::from(b)) / 3 {
        0..=50 => Color::Black,
        51..=150 => Color::DarkGray,
        151..=220 => Color::Gray,
        _ => Color::White,
    }
}

/// The hue of an RGB colour in degrees (0 red, 120 green, 240 blue).
fn hue_degrees(r: u8, g: u8, b: u8) -> f32 {
    let (r, g, b) = (f32::from(r), f32::from(g), f32::from(b));
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let d = max - min;
    if d == 0.0 {
        return 0.0;
    }
    let h = if max == r {
        ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        (b - r) / d + 2.0
    } else {
        (r - g) / d + 4.0
    };
    h * 60.0
}

/// The nearest colour of the xterm 256-colour palette: its 6×6×6 cube or
/// its grey ramp.
pub fn to_ansi256(c: Color) -> Color {
    let Color::Rgb(r, g, b) = c else { return c };
    const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let level = |v: u8| -> usize {
        LEVELS
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| (i32::from(**l) - i32::from(v)).abs())
            .map_or(0, |(i, _)| i)
    };
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let cube = (LEVELS[ri], LEVELS[gi], LEVELS[bi]);
    let avg = (u16::from(r) + u16::from(g) + u16::from(b)) / 3;
    let grey_i = (avg.saturating_sub(3) / 10).min(23) as u8;
    let grey = 8 + 10 * grey_i;
    let dist = |(x, y, z): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(x, r) + d(y, g) + d(z, b)
    };
    if dist((grey, grey, grey)) < dist(cube) {
        Color::Indexed(232 + grey_i)
    } else {
        Color::Indexed(16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_theme_parses_in_every_mode() {
        for (name, _) in BUNDLED {
            for mode in [
                ColorMode::None,
                ColorMode::Ansi16,
                ColorMode::Ansi256,
                ColorMode::TrueColor,
            ] {
                let t = Theme::bundled(name, mode).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(t.name, name);
            }
        }
    }

    #[test]
    fn no_color_strips_every_colour_but_keeps_emphasis() {
        let t = Theme::bundled("dark", ColorMode::None).unwrap();
        for s in [
            t.text(),
            t.selection(),
            t.role(Role::Danger),
            t.bar(),
            t.badge(Role::Ok),
            t.highlight(),
        ] {
            assert_eq!(s.fg, None);
            assert_eq!(s.bg, None);
        }
        assert!(t.selection().add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn sixteen_colour_fallback_maps_rgb_to_ansi() {
        let t = Theme::bundled("dark", ColorMode::Ansi16).unwrap();
        for s in [t.text(), t.selection(), t.role(Role::Danger), t.accent()] {
            for c in [s.fg, s.bg].into_iter().flatten() {
                assert!(!matches!(c, Color::Rgb(..) | Color::Indexed(_)), "{c:?}");
            }
        }
        assert_eq!(to_ansi16(Color::Rgb(250, 10, 10)), Color::LightRed);
        assert_eq!(to_ansi16(Color::Rgb(10, 10, 10)), Color::Black);
    }

    #[test]
    fn health_colours_stay_green_yellow_and_red_in_256_and_16_colours() {
        for name in ["dark", "light", "high-contrast"] {
            for mode in [ColorMode::Ansi16, ColorMode::Ansi256] {
                let t = Theme::bundled(name, mode).unwrap();
                let fg = |r: Role| t.role(r).fg.expect("a colour");
                let (ok, warn, danger, muted) = (
                    fg(Role::Ok),
                    fg(Role::Warn),
                    fg(Role::Danger),
                    fg(Role::Muted),
                );
                assert!(
                    ok != warn && warn != danger && ok != danger,
                    "{name} {mode:?}: {ok:?} {warn:?} {danger:?}"
                );
                for c in [ok, warn, danger] {
                    assert_ne!(
                        c, muted,
                        "{name} {mode:?}: a health colour is the muted grey"
                    );
                }
                if mode == ColorMode::Ansi16 {
                    assert!(
                        matches!(ok, Color::Green | Color::LightGreen),
                        "{name}: {ok:?}"
                    );
                    assert!(
                        matches!(warn, Color::Yellow | Color::LightYellow),
                        "{name}: {warn:?}"
                    );
                    assert!(
                        matches!(danger, Color::Red | Color::LightRed),
                        "{name}: {danger:?}"
                    );
                }
            }
        }
        // The cube and the grey ramp of the 256-colour palette.
        assert_eq!(to_ansi256(Color::Rgb(255, 0, 0)), Color::Indexed(196));
        assert_eq!(to_ansi256(Color::Rgb(128, 128, 128)), Color::Indexed(244));
        assert_eq!(to_ansi256(Color::Rgb(0, 0, 0)), Color::Indexed(16));
    }

    #[test]
    fn colour_mode_follows_the_environment() {
        assert_eq!(
            ColorMode::from_env(Some("1".into()), Some("truecolor".into())),
            ColorMode::None
        );
        assert_eq!(
            ColorMode::from_env(Some(String::new()), Some("truecolor".into())),
            ColorMode::TrueColor
        );
        assert_eq!(
            ColorMode::from_env(None, Some("24bit".into())),
            ColorMode::TrueColor
        );
        assert_eq!(ColorMode::from_env(None, None), ColorMode::Ansi16);
        assert_eq!(
            ColorMode::from_env_term(None, None, Some("xterm-256color".into())),
            ColorMode::Ansi256
        );
        assert_eq!(
            ColorMode::from_env_term(
                None,
                Some("truecolor".into()),
                Some("xterm-256color".into())
            ),
            ColorMode::TrueColor
        );
    }

    #[test]
    fn bad_theme_files_are_located() {
        let src = "name = \"x\"\n[colors]\ntext = \"#12345\"\n";
        let e = Theme::parse(src, Path::new("t.toml"), ColorMode::TrueColor).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("#rrggbb"), "{e}");
    }
}
