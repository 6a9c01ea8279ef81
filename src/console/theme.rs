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
    TrueColor,
}

impl ColorMode {
    /// Reads `NO_COLOR` and `COLORTERM`.
    pub fn detect() -> Self {
        Self::from_env(
            std::env::var_os("NO_COLOR").map(|v| v.to_string_lossy().into_owned()),
            std::env::var("COLORTERM").ok(),
        )
    }

    pub fn from_env(no_color: Option<String>, colorterm: Option<String>) -> Self {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return Self::None;
        }
        match colorterm.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("truecolor" | "24bit") => Self::TrueColor,
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
    const TABLE: [(Color, (i32, i32, i32)); 16] = [
        (Color::Black, (0, 0, 0)),
        (Color::Red, (205, 0, 0)),
        (Color::Green, (0, 205, 0)),
        (Color::Yellow, (205, 205, 0)),
        (Color::Blue, (0, 0, 238)),
        (Color::Magenta, (205, 0, 205)),
        (Color::Cyan, (0, 205, 205)),
        (Color::Gray, (229, 229, 229)),
        (Color::DarkGray, (127, 127, 127)),
        (Color::LightRed, (255, 0, 0)),
        (Color::LightGreen, (0, 255, 0)),
        (Color::LightYellow, (255, 255, 0)),
        (Color::LightBlue, (92, 92, 255)),
        (Color::LightMagenta, (255, 0, 255)),
        (Color::LightCyan, (0, 255, 255)),
        (Color::White, (255, 255, 255)),
    ];
    let (r, g, b) = (r as i32, g as i32, b as i32);
    TABLE
        .iter()
        .min_by_key(|(_, (tr, tg, tb))| {
            // Weighted distance, closer to how the eye ranks colours.
            let (dr, dg, db) = (r - tr, g - tg, b - tb);
            3 * dr * dr + 4 * dg * dg + 2 * db * db
        })
        .map(|(c, _)| *c)
        .unwrap_or(Color::Reset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_theme_parses_in_every_mode() {
        for (name, _) in BUNDLED {
            for mode in [ColorMode::None, ColorMode::Ansi16, ColorMode::TrueColor] {
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
    }

    #[test]
    fn bad_theme_files_are_located() {
        let src = "name = \"x\"\n[colors]\ntext = \"#12345\"\n";
        let e = Theme::parse(src, Path::new("t.toml"), ColorMode::TrueColor).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("#rrggbb"), "{e}");
    }
}
