public import CallTree

/// The variables each kind of template may use, documented in config/README.md. The loader
/// refuses a template that uses any other.
public enum TemplateVariables {
    /// In every template.
    public static let common: [String] = [
        "plan", "drill", "incident_id", "incident_key", "type", "type_id", "severity", "severity_name", "title",
        "details", "site", "region", "occurred_at", "opened_at", "eta", "now", "state", "affected", "hotline",
        "support_email",
    ]
    /// In `page` only.
    public static let page: [String] = [
        "department", "department_id", "responsibilities", "contact", "contact_id", "channel", "round", "step",
        "ack_by", "ack_within", "page_id", "escalated_by", "fallback_from",
    ]
    /// In `status` only; `departments` is a list of `departmentItem`.
    public static let status: [String] = ["sequence", "reason", "departments"]
    public static let departmentItem: [String] = [
        "department", "department_id", "state", "round", "step", "contacts", "acknowledged_by", "acknowledged_at",
    ]
    /// In `notice.*` only.
    public static let notice: [String] = ["kind", "waybill", "customer_id"]

    /// Every variable a template may use.
    public static func allowed(in template: TemplateID) -> [String] {
        switch template {
        case .page: common + page
        case .status: common + status
        default: common + notice
        }
    }

    /// Variables that hold a list; the rest are texts or true/false.
    static let lists: Set<String> = ["responsibilities", "departments"]
    static let flags: Set<String> = ["drill"]
}
