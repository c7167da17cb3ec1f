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

    /// The text of `key`, if there is one.
    pub fn lookup(self, key: &str) -> Option<&'static str> {
        all_texts().find(|(k, _, _)| *k == key).map(|(_, zh, en)| match self {
            Lang::Zh => *zh,
            Lang::En => *en,
        })
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

/// A field's label for error messages: `field.<name>` from the texts, or the raw name.
pub fn field_label(lang: Lang, field: &str) -> String {
    let key = format!("field.{field}");
    match all_texts().find(|(k, _, _)| *k == key.as_str()) {
        Some((_, zh, en)) => match lang {
            Lang::Zh => (*zh).to_owned(),
            Lang::En => (*en).to_owned(),
        },
        None => field.to_owned(),
    }
}

pub const TEXT: &[Text] = &[
    ("app.name", "Pond 私域运营", "Pond SCRM"),
    ("nav.logout", "退出登录", "Log out"),
    ("card.entries", "名片内容（每行一项，格式见下）", "Entries (one per line, formats below)"),
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
    ("login.throttled", "登录失败次数过多，请 {n} 秒后再试", "Too many failed logins; try again in {n} s"),
    ("login.busy", "登录请求过多，请稍后再试", "Too many logins at once; try again shortly"),
    ("common.search", "搜索", "Search"),
    ("common.cancel", "取消", "Cancel"),
    ("common.confirm", "确认", "Confirm"),
    ("common.confirm_title", "确认操作", "Please confirm"),
    ("common.copied", "已复制", "Copied"),
    ("common.copy", "复制", "Copy"),
    ("common.remove", "移除", "Remove"),
    ("common.close", "关闭", "Close"),
    ("common.back", "返回", "Back"),
    ("common.filter", "筛选", "Filter"),
    ("common.reset", "重置", "Reset"),
    ("common.all", "全部", "All"),
    ("common.export", "导出 CSV", "Export CSV"),
    ("common.edit", "编辑", "Edit"),
    ("common.delete", "删除", "Delete"),
    ("common.deleted", "已删除", "Deleted"),
    ("common.created", "已创建", "Created"),
    ("common.actions", "操作", "Actions"),
    ("common.details", "详情", "Details"),
    ("common.from", "开始日期", "From"),
    ("common.to", "结束日期", "To"),
    ("common.none", "无", "None"),
    ("picker.search", "输入姓名、拼音首字母或账号搜索", "Search by name, pinyin initials or ID"),
    ("picker.none", "没有匹配项", "No match"),
    ("nav.menu", "菜单", "Menu"),
    ("navgroup.customers", "客户中心", "Customers"),
    ("navgroup.acquisition", "引流获客", "Acquisition"),
    ("navgroup.groups", "客群运营", "Group operations"),
    ("navgroup.content", "内容中心", "Content"),
    ("navgroup.risk", "风控管理", "Risk control"),
    ("navgroup.system", "系统设置", "Settings"),
    ("login.lead", "企业微信私域运营后台", "Private-domain operations for WeCom"),
    ("error.code", "状态码", "Status"),
    ("error.invalid", "输入有误", "Invalid input"),
    (
        "error.invalid_detail",
        "提交的内容有误，请检查后重试。",
        "Something in the request is not valid; please check and try again.",
    ),
    ("error.forbidden", "没有权限", "Not allowed"),
    (
        "error.forbidden_detail",
        "您的角色不能执行此操作，请联系企业管理员。",
        "Your role may not do this; ask an administrator.",
    ),
    ("error.not_found", "找不到页面", "Not found"),
    (
        "error.not_found_detail",
        "要访问的页面或记录不存在，可能已被删除。",
        "The page or record does not exist; it may have been deleted.",
    ),
    ("error.conflict", "操作冲突", "Conflict"),
    (
        "error.conflict_detail",
        "该操作与现有数据冲突（例如名称或渠道参数重复，或已有任务在进行），请检查后重试。",
        "This conflicts with existing data (a duplicate, or a run already going); please check and try again.",
    ),
    ("error.throttled", "尝试次数过多", "Too many tries"),
    ("error.throttled_detail", "尝试次数过多，请稍后再试。", "Too many tries; try again later."),
    ("error.too_large", "内容过大", "Too large"),
    ("error.too_large_detail", "提交的内容超过了大小限制。", "The request is larger than allowed."),
    ("error.upstream", "企业微信返回错误", "WeCom refused"),
    (
        "error.upstream_detail",
        "企业微信拒绝了请求或暂时无法访问，请稍后重试；详细原因已记录在日志中。",
        "WeCom refused the request or could not be reached; please retry later. The details are in the log.",
    ),
    ("error.internal", "系统错误", "Internal error"),
    (
        "error.internal_detail",
        "系统出现错误，已记录日志，请稍后重试。",
        "Something went wrong on our side; it has been logged. Please retry later.",
    ),
    ("enum.status.pending", "待执行", "Pending"),
    ("enum.status.running", "进行中", "Running"),
    ("enum.status.done", "已完成", "Done"),
    ("enum.status.failed", "失败", "Failed"),
    ("enum.status.sent", "已发送", "Sent"),
    ("enum.status.skipped", "已跳过", "Skipped"),
    ("design.title", "设计规范", "Design system"),
    (
        "design.lead",
        "控制台每个页面使用的组件与写法；新页面照此构建。",
        "The components every console page uses; build new pages from them.",
    ),
    ("design.primary", "主要操作", "Primary action"),
    ("design.secondary", "次要操作", "Secondary"),
    ("design.kpi", "指标卡", "KPI tiles"),
    ("design.kpi_link", "可点击进入明细", "links to its list"),
    (
        "design.chart",
        "趋势图（服务端 SVG，含坐标轴、图例与悬停提示）",
        "Trend chart (server SVG with axes, legend and tooltips)",
    ),
    (
        "design.table",
        "数据表格：筛选、排序、行操作、空状态、分页与导出",
        "Data table: filters, sort, row actions, empty state, paging, export",
    ),
    ("design.search_hint", "名称、拼音首字母或 ID", "name, pinyin initials or ID"),
    ("design.active", "启用", "Active"),
    (
        "design.empty_hint",
        "调整筛选条件，或点击右上角新建。",
        "Change the filters, or create one with the button at the top.",
    ),
    ("design.form", "表单：字段内错误提示与选择器", "Form: inline field errors and pickers"),
    ("design.example_error", "不能为空", "must not be empty"),
    ("design.staff_picker", "员工选择器", "Employee picker"),
    ("design.tag_picker", "标签选择器", "Tag picker"),
    (
        "design.picker_hint",
        "无 JavaScript 时为普通多选框；有 JavaScript 时可按姓名、拼音首字母或账号搜索。",
        "A plain multi-select without JavaScript; with it, search by name, pinyin initials or ID.",
    ),
    ("design.checkbox", "复选项", "A checkbox"),
    ("design.department_picker", "部门选择器", "Department picker"),
    ("design.group_picker", "客户群选择器（单选）", "Customer group picker (single)"),
    ("design.feedback", "反馈：提示条、确认、徽标与按钮", "Feedback: alerts, confirmation, badges and buttons"),
    (
        "design.confirm_text",
        "删除后，已印刷的二维码将无法再添加员工。",
        "Once deleted, printed QR codes stop adding employees.",
    ),
    ("design.toast_failure", "操作失败的提示会一直显示，直到关闭。", "A failure toast stays until closed."),
    ("design.tag", "标签", "Tag"),
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
    ("common.no", "否", "no"),
    ("common.date", "日期", "Date"),
    ("form.fix_below", "请修改下面标红的字段。", "Please fix the fields marked below."),
    ("import.line", "行号", "Line"),
    ("import.field", "字段", "Field"),
    ("import.problem", "问题", "Problem"),
    ("weekday.1", "周一", "Mon"),
    ("weekday.2", "周二", "Tue"),
    ("weekday.3", "周三", "Wed"),
    ("weekday.4", "周四", "Thu"),
    ("weekday.5", "周五", "Fri"),
    ("weekday.6", "周六", "Sat"),
    ("weekday.7", "周日", "Sun"),
    ("common.error", "出错了", "Something went wrong"),
    (
        "corp.secret_hint",
        "已保存的值不再显示；留空表示不修改。当前：",
        "Saved values are never shown; leave blank to keep. Current: ",
    ),
    ("role.owner", "所有者", "Owner"),
    ("role.admin", "管理员", "Admin"),
    ("role.operator", "运营", "Operator"),
    ("role.readonly", "只读", "Read-only"),
    // Field labels for validation errors (`field_label`): one per field a `ValidationError` names.
    ("field.line", "整行", "Line"),
    ("field.header", "表头", "Header"),
    ("field.city", "城市", "City"),
    ("field.address", "地址", "Address"),
    ("field.tags", "标签", "Tags"),
    ("field.customers", "客户", "Customers"),
    ("field.remark", "备注", "Remark"),
    ("field.weights", "权重", "Weights"),
    ("field.backup", "备用员工", "Backup staff"),
    ("field.filter", "筛选条件", "Filter"),
    ("field.name", "名称", "Name"),
    ("field.state", "渠道参数 state", "State"),
    ("field.mode", "模式", "Mode"),
    ("field.strategy", "分配方式", "Rotation"),
    ("field.staff", "接待员工", "Staff"),
    ("field.staff.weight", "员工权重", "Staff weight"),
    ("field.schedules", "排班", "Schedules"),
    ("field.schedules.weekdays", "排班星期", "Schedule days"),
    ("field.schedules.start", "排班开始时间", "Schedule start"),
    ("field.schedules.end", "排班结束时间", "Schedule end"),
    ("field.schedules.staff", "排班员工", "Schedule staff"),
    ("field.start", "开始时间", "Start"),
    ("field.end", "结束时间", "End"),
    ("field.daily_cap", "每人每日上限", "Daily cap per employee"),
    ("field.channel_group", "渠道分组", "Channel group"),
    ("field.remark_prefix", "备注前缀", "Remark prefix"),
    ("field.auto_tags", "自动标签", "Auto-tags"),
    ("field.welcome_id", "欢迎语", "Welcome message"),
    ("field.text", "文字内容", "Text"),
    ("field.attachments", "附件", "Attachments"),
    ("field.entries", "名片内容", "Card entries"),
    ("field.external_position", "对外职务", "Position"),
    ("field.external_corp_name", "对外企业名称", "Company name on the card"),
    ("field.userids", "员工", "Employees"),
    ("field.size", "二维码尺寸", "QR code size"),
    ("field.latitude", "纬度", "Latitude"),
    ("field.longitude", "经度", "Longitude"),
    ("field.from", "开始日期", "From"),
    ("field.to", "结束日期", "To"),
    ("field.timezone", "时区", "Time zone"),
    ("field.wecom_corp_id", "企业ID (CorpID)", "Corp ID"),
    ("field.agent_id", "自建应用 AgentId", "App AgentId"),
    ("field.contact_secret", "客户联系 Secret", "Customer-contact secret"),
    ("field.app_secret", "自建应用 Secret", "App secret"),
    ("field.callback_token", "回调 Token", "Callback token"),
    ("field.encoding_aes_key", "回调 EncodingAESKey", "Callback EncodingAESKey"),
    ("field.api_base_url", "API 地址", "API base URL"),
    ("field.public_url", "公开访问地址", "Public URL"),
    ("field.email", "邮箱", "E-mail"),
    ("field.password", "密码", "Password"),
    ("common.unsafe_link", "不安全的链接（未显示）", "Unsafe link (not shown)"),
    ("field.current_password", "当前密码", "Current password"),
    ("field.new_password", "新密码", "New password"),
    ("account.title", "我的账号", "My account"),
    ("account.sessions", "已登录的会话", "Signed-in sessions"),
    ("account.end_sessions", "退出所有设备", "Sign out everywhere"),
    (
        "account.end_hint",
        "结束你在所有浏览器和设备上的登录，包括当前这个。",
        "Ends your sessions in every browser and device, this one included.",
    ),
    ("account.password", "修改密码", "Change password"),
    (
        "account.password_hint",
        "至少 10 个字符。保存后所有设备都会退出登录，请用新密码重新登录。",
        "At least 10 characters. Saving signs you out everywhere; sign in again with the new password.",
    ),
    ("users.end_sessions", "强制下线", "Sign out everywhere"),
    ("field.role", "角色", "Role"),
    ("field.status", "状态", "Status"),
    ("field.body", "请求内容", "Request body"),
    ("field.StaffStatus", "员工状态", "Staff status"),
    ("field.JobStatus", "任务状态", "Job status"),
    ("field.WelcomeStatus", "欢迎语发送状态", "Welcome message status"),
    ("field.SyncStatus", "同步状态", "Sync status"),
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
    fn field_labels_fall_back_to_the_raw_name() {
        assert_eq!(field_label(Lang::Zh, "latitude"), "纬度");
        assert_eq!(field_label(Lang::En, "latitude"), "Latitude");
        assert_eq!(field_label(Lang::Zh, "no_such_field"), "no_such_field");
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
                for part in text.split("c.t(\"").skip(1) {
                    let key = part.split('"').next().unwrap();
                    assert_ne!(Lang::Zh.t(key), "⟨missing text⟩", "{} uses unknown key {key}", path.display());
                }
            }
        }
        assert!(seen >= 20, "only {seen} templates found");
    }
}
