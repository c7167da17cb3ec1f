//! Console text in Chinese (default) and English. The texts every page shares live here; each
//! feature folder brings its own (`<feature>/text.rs`, listed in `app::FEATURES`). Keys are looked
//! up at render time; a missing key shows a marker, which a test guards against.

/// One text: (key, 中文, English).
pub type Text = (&'static str, &'static str, &'static str);

/// The console language, chosen by the `pond_lang` cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn from_code(code: &str) -> Lang {
        match code {
            "en" => Lang::En,
            _ => Lang::Zh,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
    /// The other language, for the switch link.
    pub fn other(self) -> (&'static str, &'static str) {
        match self {
            Lang::Zh => ("en", "English"),
            Lang::En => ("zh", "中文"),
        }
    }

    pub fn t(self, key: &str) -> &'static str {
        match all_texts().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => "⟨missing text⟩",
        }
    }
}

/// (key, 中文, English)
/// Every text: the shared ones, then each feature's.
pub fn all_texts() -> impl Iterator<Item = &'static Text> {
    TEXT.iter().chain(crate::app::FEATURES.iter().flat_map(|f| f.text.iter()))
}

pub const TEXT: &[Text] = &[
    ("app.name", "Pond 私域运营", "Pond SCRM"),
    ("nav.logout", "退出登录", "Log out"),
    (
        "card.entries",
        "名片内容（每行：text|名称|内容，web|名称|标题|网址，miniprogram|名称|标题|appid|页面）",
        "Entries (one per line: text|name|value, web|name|title|url, miniprogram|name|title|appid|page)",
    ),
    (
        "codes.schedules",
        "排班（每行：星期 时间段 员工，如 1-5 18:00-24:00 u1,u2）",
        "Schedules (one per line: days window staff, e.g. 1-5 18:00-24:00 u1,u2)",
    ),
    (
        "sync.already_running",
        "已有一次同步正在进行，下面是它的进度。",
        "A sync is already running; its progress is below.",
    ),
    (
        "sync.not_configured",
        "企业微信设置不完整（需要企业ID和Secret）。",
        "WeCom settings are incomplete (corp ID and a secret are needed).",
    ),
    ("login.title", "登录", "Log in"),
    ("login.email", "邮箱", "E-mail"),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Log in"),
    ("login.failed", "邮箱或密码错误", "Wrong e-mail or password"),
    ("common.search", "搜索", "Search"),
    ("common.save", "保存", "Save"),
    ("common.saved", "已保存", "Saved"),
    (
        "common.empty",
        "暂无数据。同步企业微信数据后，这里会显示内容。",
        "Nothing here yet. Data appears once WeCom data is synced.",
    ),
    ("common.prev", "上一页", "Previous"),
    ("common.next", "下一页", "Next"),
    ("common.page", "页", "page"),
    ("common.total", "共", "Total"),
    ("common.name", "名称", "Name"),
    ("common.status", "状态", "Status"),
    ("common.time", "时间", "Time"),
    ("common.yes", "是", "yes"),
    ("common.error", "出错了", "Something went wrong"),
    (
        "corp.secret_hint",
        "已保存的值不再显示；留空表示不修改。当前：",
        "Saved values are never shown; leave blank to keep. Current: ",
    ),
    ("role.owner", "所有者", "Owner"),
    ("role.admin", "管理员", "Admin"),
    ("role.operator", "运营", "Operator"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_both_languages_filled() {
        let mut keys: Vec<&str> = all_texts().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "duplicate i18n key");
        assert!(all_texts().all(|(_, zh, en)| !zh.is_empty() && !en.is_empty()));
        assert_eq!(Lang::Zh.t("nav.staff"), "员工");
        assert_eq!(Lang::En.t("nav.staff"), "Staff");
    }

    #[test]
    fn every_key_used_in_templates_exists() {
        // Templates sit in a folder per feature.
        let mut folders = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/templates"))];
        let mut seen = 0;
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                    continue;
                }
                seen += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                for part in text.split("t(\"").skip(1) {
                    let key = part.split('"').next().unwrap();
                    assert_ne!(Lang::Zh.t(key), "⟨missing text⟩", "{} uses unknown key {key}", path.display());
                }
            }
        }
        assert!(seen >= 20, "only {seen} templates found");
    }
}
