//! Console text in Chinese (default) and English. Keys are looked up at render time; a missing
//! key shows the key itself, which a test guards against.

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
        match TEXT.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => "⟨missing text⟩",
        }
    }
}

/// (key, 中文, English)
pub const TEXT: &[(&str, &str, &str)] = &[
    ("app.name", "Pond 私域运营", "Pond SCRM"),
    ("nav.overview", "概览", "Overview"),
    ("nav.corp", "企业设置", "Corp settings"),
    ("nav.staff", "员工", "Staff"),
    ("nav.customers", "客户", "Customers"),
    ("nav.tags", "标签", "Tags"),
    ("nav.groups", "客户群", "Customer groups"),
    ("nav.jobs", "任务队列", "Job queue"),
    ("nav.audit", "操作日志", "Audit log"),
    ("nav.users", "控制台用户", "Console users"),
    ("nav.logout", "退出登录", "Log out"),
    ("nav.sync", "数据同步", "Sync"),
    ("nav.codes", "渠道活码", "Channel codes"),
    ("nav.welcome", "欢迎语", "Welcome messages"),
    ("nav.stores", "区域活码", "Regional code"),
    ("nav.tokens", "API 令牌", "API tokens"),
    ("tokens.title", "API 令牌", "API tokens"),
    ("tokens.once", "新令牌只显示这一次，请立即保存：", "The new token is shown only this once; store it now:"),
    ("tokens.prefix", "前缀", "Prefix"),
    ("tokens.last_used", "最近使用", "Last used"),
    ("tokens.revoked", "已吊销", "revoked"),
    ("tokens.revoke", "吊销", "Revoke"),
    ("tokens.create", "创建令牌", "Create token"),
    ("card.title", "对外名片", "Business card"),
    ("card.preview", "客户看到的名片", "What customers see"),
    ("card.corp_name", "对外企业名称", "Company name on the card"),
    ("card.position", "对外职务（≤12字）", "Position (≤12 characters)"),
    (
        "card.entries",
        "名片内容（每行：text|名称|内容，web|名称|标题|网址，miniprogram|名称|标题|appid|页面）",
        "Entries (one per line: text|name|value, web|name|title|url, miniprogram|name|title|appid|page)",
    ),
    ("card.also", "同时应用到（员工账号，逗号分隔）", "Also apply to (userids, comma-separated)"),
    ("stores.title", "区域活码 · 门店", "Regional code · stores"),
    ("stores.url", "区域活码地址（打印此二维码）", "Regional code URL (print this QR)"),
    ("stores.city", "城市", "City"),
    ("stores.address", "地址", "Address"),
    ("stores.located", "定位匹配", "Matched by location"),
    ("stores.import", "导入门店 CSV", "Import stores (CSV)"),
    ("stores.imported", "已导入门店", "Stores imported"),
    ("stores.refused", "文件有错误，未导入任何门店：", "The file has errors; nothing was imported:"),
    ("codes.title", "渠道活码", "Channel live codes"),
    ("codes.group", "渠道分组", "Channel group"),
    ("codes.mode", "模式", "Mode"),
    ("codes.mode_native", "企业微信联系我（原生）", "WeCom contact way (native)"),
    ("codes.mode_landing", "Pond 落地页（精确分配与扫码统计）", "Pond landing page (exact routing, scan counts)"),
    ("codes.strategy", "分配方式", "Rotation"),
    ("codes.state", "渠道标识 state（≤30字符）", "Channel state (≤30 characters)"),
    ("codes.staff", "接待员工（每行一个，可写 userid:权重）", "Staff (one per line, userid or userid:weight)"),
    ("codes.daily_cap", "每人每日上限", "Daily cap per employee"),
    ("codes.backup", "备用员工（逗号分隔）", "Backup staff (comma-separated)"),
    (
        "codes.schedules",
        "排班（每行：星期 时间段 员工，如 1-5 18:00-24:00 u1,u2）",
        "Schedules (one per line: days window staff, e.g. 1-5 18:00-24:00 u1,u2)",
    ),
    ("codes.auto_tags", "自动打标签（标签ID，逗号分隔）", "Auto-tags (tag ids, comma-separated)"),
    ("codes.welcome", "渠道欢迎语", "Welcome message"),
    ("codes.skip_verify", "客户添加时无需验证", "Skip verification"),
    ("codes.remark_prefix", "备注前缀", "Remark prefix"),
    ("codes.create", "新建活码", "Create code"),
    ("codes.delete", "删除", "Delete"),
    ("codes.import", "批量导入活码（CSV）", "Bulk create from CSV"),
    ("codes.scans", "扫码", "Scans"),
    ("codes.new", "新增客户", "New customers"),
    ("codes.lost", "流失", "Lost"),
    ("codes.net", "净增", "Net"),
    ("codes.retained", "7日留存", "Kept after 7 days"),
    ("codes.last30", "近30天", "Last 30 days"),
    ("codes.download", "下载", "Download"),
    ("codes.funnel", "转化漏斗", "Funnel"),
    ("codes.trend", "趋势", "Trend"),
    ("codes.current_users", "当前接待", "Receiving now"),
    ("codes.none", "不使用", "none"),
    ("welcome.title", "欢迎语库", "Welcome messages"),
    ("welcome.text", "内容（可用 {customer_name} {staff_name}）", "Text (variables {customer_name} {staff_name})"),
    ("welcome.default", "设为企业默认", "Corp default"),
    ("welcome.add", "添加欢迎语", "Add welcome message"),
    ("sync.title", "企业微信数据同步", "WeCom data sync"),
    ("sync.phase", "阶段", "Phase"),
    ("sync.started", "开始于", "started"),
    ("sync.never", "尚未同步过。", "Never synced yet."),
    (
        "sync.already_running",
        "已有一次同步正在进行，下面是它的进度。",
        "A sync is already running; its progress is below.",
    ),
    ("sync.start", "立即全量同步", "Full sync now"),
    (
        "sync.not_configured",
        "企业微信设置不完整（需要企业ID和Secret）。",
        "WeCom settings are incomplete (corp ID and a secret are needed).",
    ),
    ("customer.follows", "跟进员工", "Followed by"),
    ("customer.remark", "备注", "Remark"),
    ("customer.state", "渠道 state", "Channel state"),
    ("customer.add_way", "添加方式", "Added via"),
    ("customer.timeline", "客户动态", "Timeline"),
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
    ("overview.title", "概览", "Overview"),
    ("overview.pending_jobs", "待执行任务", "Pending jobs"),
    ("overview.failed_jobs", "失败任务", "Failed jobs"),
    ("corp.title", "企业微信设置", "WeCom settings"),
    ("corp.name", "企业名称", "Corp name"),
    ("corp.wecom_corp_id", "企业ID (CorpID)", "Corp ID"),
    ("corp.agent_id", "自建应用 AgentId", "App AgentId"),
    ("corp.contact_secret", "客户联系 Secret", "Customer-contact secret"),
    ("corp.app_secret", "自建应用 Secret", "App secret"),
    ("corp.callback_token", "回调 Token", "Callback token"),
    ("corp.encoding_aes_key", "回调 EncodingAESKey", "Callback EncodingAESKey"),
    ("corp.api_base_url", "API 地址", "API base URL"),
    ("corp.timezone", "时区（每日统计、上限和显示时间）", "Time zone (daily figures, caps and times shown)"),
    (
        "corp.secret_hint",
        "已保存的值不再显示；留空表示不修改。当前：",
        "Saved values are never shown; leave blank to keep. Current: ",
    ),
    ("corp.not_set", "未设置", "not set"),
    ("corp.read_only", "只有管理员可以修改企业设置。", "Only admins can change corp settings."),
    ("staff.title", "员工", "Staff"),
    ("staff.userid", "账号", "User ID"),
    ("staff.position", "职务", "Position"),
    ("staff.departments", "部门", "Departments"),
    ("staff.active", "在职", "active"),
    ("staff.resigned", "已离职", "resigned"),
    ("customers.title", "客户", "Customers"),
    ("customers.external_userid", "外部联系人ID", "External user ID"),
    ("customers.type", "类型", "Type"),
    ("customers.corp_name", "所在企业", "Company"),
    ("customers.added", "首次添加", "First added"),
    ("customers.removed", "已流失", "lost"),
    ("tags.title", "企业标签", "Corp tags"),
    ("tags.group", "标签组", "Tag group"),
    ("tags.customers", "客户数", "Customers"),
    ("tags.deleted", "已删除", "deleted"),
    ("groups.title", "客户群", "Customer groups"),
    ("groups.owner", "群主", "Owner"),
    ("groups.members", "成员数", "Members"),
    ("groups.dismissed", "已解散", "dismissed"),
    ("jobs.title", "任务队列", "Job queue"),
    ("jobs.pending", "待执行", "Pending"),
    ("jobs.running", "执行中", "Running"),
    ("jobs.failed", "失败", "Failed"),
    ("jobs.done", "已完成", "Done"),
    ("jobs.kind", "类型", "Kind"),
    ("jobs.attempts", "尝试次数", "Attempts"),
    ("jobs.next_run", "下次执行", "Next run"),
    ("jobs.last_error", "最近错误", "Last error"),
    ("jobs.retry", "重试", "Retry"),
    ("jobs.retried", "已重新加入队列", "Put back in the queue"),
    ("audit.title", "操作日志", "Audit log"),
    ("audit.actor", "操作人", "Actor"),
    ("audit.action", "操作", "Action"),
    ("audit.target", "对象", "Target"),
    ("audit.detail", "详情", "Detail"),
    ("users.title", "控制台用户", "Console users"),
    ("users.role", "角色", "Role"),
    ("users.last_login", "最近登录", "Last login"),
    ("users.add", "添加用户", "Add user"),
    ("users.added", "用户已添加", "User added"),
    ("role.owner", "所有者", "Owner"),
    ("role.admin", "管理员", "Admin"),
    ("role.operator", "运营", "Operator"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_both_languages_filled() {
        let mut keys: Vec<&str> = TEXT.iter().map(|(k, _, _)| *k).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "duplicate i18n key");
        assert!(TEXT.iter().all(|(_, zh, en)| !zh.is_empty() && !en.is_empty()));
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
