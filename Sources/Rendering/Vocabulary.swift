import CallTree

/// The few words the renderer writes itself (states and reasons of status updates), in the
/// locales of the sample plan; other locales get English.
struct Vocabulary {
    let locale: String

    private var language: Int {
        switch locale {
        case "zh-Hant", "zh-HK", "zh-TW": 0
        case "zh-Hans", "zh-CN": 1
        default: 2
        }
    }

    private func pick(_ hant: String, _ hans: String, _ english: String) -> String {
        [hant, hans, english][language]
    }

    func incident(_ status: IncidentStatus) -> String {
        switch status {
        case .open: pick("處理中,正在呼叫", "处理中,正在呼叫", "open, paging")
        case .acknowledged: pick("各部門已接手", "各部门已接手", "acknowledged by every department")
        case .exhausted: pick("有部門無人應答", "有部门无人应答", "exhausted: a department did not answer")
        case .resolved: pick("已解決", "已解决", "resolved")
        }
    }

    func department(_ state: DepartmentStatus.State) -> String {
        switch state {
        case .paging: pick("呼叫中", "呼叫中", "paging")
        case .acknowledged: pick("已接手", "已接手", "acknowledged")
        case .exhausted: pick("無人應答", "无人应答", "no answer")
        }
    }

    func reason(_ reason: StatusReason, department: (DepartmentID) -> String, contact: (ContactID) -> String) -> String {
        switch reason {
        case .opened:
            return pick("事件開啟。", "事件开启。", "Incident opened.")
        case .updated:
            return pick("事件資料更新。", "事件资料更新。", "Incident updated.")
        case .stepTimedOut(let id):
            let name = department(id)
            return pick("\(name)未在時限內確認,轉呼下一位。", "\(name)未在时限内确认,转呼下一位。", "\(name): no ack in time, paging the next contact.")
        case .escalated(let id, let by):
            let name = department(id), who = contact(by)
            return pick("\(who)把\(name)的呼叫轉交下一位。", "\(who)把\(name)的呼叫转交下一位。", "\(who) passed \(name) on to the next contact.")
        case .acknowledged(let id, let by):
            let name = department(id), who = contact(by)
            return pick("\(who)已代表\(name)接手。", "\(who)已代表\(name)接手。", "\(who) took it for \(name).")
        case .exhausted(let id):
            let name = department(id)
            return pick("\(name)的呼叫名單已用盡,無人應答。", "\(name)的呼叫名单已用尽,无人应答。", "\(name): call order exhausted, nobody answered.")
        case .cadence:
            return pick("定時進展報告。", "定时进展报告。", "Scheduled progress update.")
        case .resolved(let resolver):
            switch resolver {
            case .upstream: return pick("事件已解決。", "事件已解决。", "Resolved.")
            case .contact(let id):
                let who = contact(id)
                return pick("\(who)確認事件已解決。", "\(who)确认事件已解决。", "Resolved by \(who).")
            }
        }
    }
}
