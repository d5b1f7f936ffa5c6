import CallTree
import Foundation
import PlanFile
@testable import Rendering
import Testing

let samplePlanPath: String = {
    let root = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
    return "/\(root)/config/plan.yaml"
}()

let start = Timestamp(secondsSinceEpoch: 1_795_939_200)  // 2026-11-29 08:00 UTC, 16:00 at +08:00

/// Runs the machine on the sample plan, letting every due time pass until `until`, and keeps
/// every action with the time it came.
func run(
    _ renderer: Renderer, type: IncidentTypeID, severity: Severity, drill: Bool = false,
    parcels: [Parcel] = [], until minutes: Int64
) -> [(Timestamp, Action, IncidentState)] {
    var machine = IncidentStateMachine(plan: renderer.document.plan)
    var due: [DueID: Timestamp] = [:]
    var log: [(Timestamp, Action, IncidentState)] = []
    func feed(_ event: Event, _ now: Timestamp) {
        for action in machine.handle(event, at: now) {
            switch action {
            case .scheduleDue(let time): due[time.id] = time.at
            case .cancelDue(let id): due[id] = nil
            default: break
            }
            log.append((now, action, machine.state!))
        }
    }
    feed(
        .trigger(
            Trigger(
                incident: "inc-1", key: "truck-HK-3721", type: type, severity: severity,
                title: "Truck HK-3721 overturned on Tuen Mun Road", details: "Driver safe; 120 parcels on board",
                site: "Tuen Mun Road", region: "New Territories West", occurredAt: start + .seconds(-600),
                eta: start + .seconds(6 * 3600), affected: parcels, drill: drill)), start)
    let end = start + .seconds(minutes * 60)
    while let next = due.min(by: { ($0.value, $0.key.description) < ($1.value, $1.key.description) }), next.value <= end {
        due[next.key] = nil
        feed(.dueTimeReached(next.key), next.value)
    }
    return log
}

let parcels = [
    Parcel(waybill: "XD000001", customerID: "c-1"),
    Parcel(waybill: "XD000002", customerID: "c-2", locale: "zh-Hans"),
    Parcel(waybill: "XD000003", customerID: "c-3", locale: "en"),
]

@Suite struct RenderingTests {
    @Test func theSamplePlansTemplatesUseOnlyKnownVariables() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        #expect(renderer.document.templates.count == 6)
    }

    @Test func aPageTellsTheContactWhatHappenedWhatTheirDepartmentMustDoAndByWhenToAnswer() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        let log = run(renderer, type: "vehicle-accident", severity: .serious, until: 0)
        let (now, action, state) = try #require(log.first { if case .page = $0.1 { true } else { false } })
        guard case .page(let page) = action else { return }
        #expect(page.contact == "wong-siu-ming")
        let text = renderer.render(page, incident: state, at: now)
        #expect(
            text == """
                【III級 較大】車輛事故:Truck HK-3721 overturned on Tuen Mun Road
                地點:Tuen Mun Road(New Territories West)
                黃小明 (葵涌轉運中心 主管),請代表現場負責人處理:
                - 到場確保人員安全
                - 控制現場並保全快件
                - 向應急指揮部上報現場情況
                請於 2026-11-29 16:05 前回覆 ack 確認接手;不能處理請回覆 escalate 轉交下一位。
                編號 page:inc-1:site-supervisor:1:1:wong-siu-ming

                """)
    }

    @Test func aPageIsWrittenInTheContactsLocale() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        let log = run(renderer, type: "network-outage", severity: .general, drill: true, until: 0)
        let pages = log.compactMap { entry -> (Page, String)? in
            guard case .page(let page) = entry.1 else { return nil }
            return (page, renderer.render(page, incident: entry.2, at: entry.0))
        }
        let raj = try #require(pages.first { $0.0.contact == "raj-patel" }).1
        #expect(raj.hasPrefix("[DRILL] [IV General] Network or system outage: Truck HK-3721"))
        #expect(raj.contains("Raj Patel (IT on-call engineer), please take this for IT:\n- Restore systems"))
        let sun = try #require(pages.first { $0.0.contact == "sun-li" }).1
        #expect(sun.hasPrefix("【演练】【IV级 一般】网络或系统故障"))
        #expect(sun.contains("请代表信息技术部处理"))
    }

    @Test func aPageAfterAnExhaustedDepartmentSaysWhoDidNotAnswer() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        // Operations (and site supervisors): 2 steps of 5m, 2 rounds: exhausted at 20m, then the
        // command centre, their fallback.
        let log = run(renderer, type: "vehicle-accident", severity: .serious, until: 20)
        let entry = try #require(
            log.first { if case .page(let page) = $0.1, page.department == "command-centre" { true } else { false } })
        guard case .page(let page) = entry.1 else { return }
        #expect(entry.0 == start + .seconds(20 * 60))
        #expect(renderer.render(page, incident: entry.2, at: entry.0).contains("請代表應急指揮部處理(運營調度部無人應答,由你接手)"))
    }

    @Test func aStatusUpdateListsEveryDepartmentAndWhoIsBeingPaged() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        let log = run(renderer, type: "parcel-delay", severity: .general, parcels: parcels, until: 0)
        let entry = try #require(log.first { if case .publishStatus = $0.1 { true } else { false } })
        guard case .publishStatus(let update) = entry.1 else { return }
        #expect(
            renderer.render(update, incident: entry.2) == """
                狀態更新 #1:快件延誤【IV級】Truck HK-3721 overturned on Tuen Mun Road
                現況:處理中,正在呼叫。事件開啟。
                - 客服部:呼叫中(吳詠詩 (客服組長),第 1 輪第 1 步)
                受影響快件 3 件。

                """)
        #expect(renderer.render(update, incident: entry.2, locale: "en").contains("- Customer service: paging (吳詠詩 (客服組長), round 1, step 1)"))
    }

    @Test func aCustomerNoticeIsPlainWordsInTheCustomersLocale() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        let log = run(renderer, type: "parcel-delay", severity: .general, parcels: parcels, until: 0)
        let entry = try #require(log.first { if case .sendNotices = $0.1 { true } else { false } })
        guard case .sendNotices(let batch) = entry.1 else { return }
        #expect(batch.kind == .initial)
        let english = renderer.render(batch, parcel: parcels[2], incident: entry.2, at: entry.0)
        #expect(
            english == """
                Xunda Express: your parcel XD000003 is affected by an incident (Parcel delay) and may be late.
                What happened: Truck HK-3721 overturned on Tuen Mun Road.
                What we are doing: our emergency plan is running and a team is on it, to get your parcel to you as soon as possible.
                We expect to be back to normal by 2026-11-29 22:00.
                Questions? Call our emergency line 2555 0000 or write to care@xunda-express.example.

                """)
        #expect(renderer.render(batch, parcel: parcels[0], incident: entry.2, at: entry.0).hasPrefix("迅達快遞通知:您的快件 XD000001 受快件延誤影響"))
        #expect(renderer.render(batch, parcel: parcels[1], incident: entry.2, at: entry.0).hasPrefix("迅达快递通知:您的快件 XD000002 受快件延误影响"))
    }

    @Test func textsAreNotHTMLEscaped() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        var machine = IncidentStateMachine(plan: renderer.document.plan)
        let actions = machine.handle(
            .trigger(Trigger(incident: "i", key: "k", type: "parcel-loss", severity: .general, title: "Bags <3 & 4> lost")),
            at: start)
        let page = try #require(actions.compactMap { if case .page(let page) = $0 { page } else { nil } }.first)
        #expect(renderer.render(page, incident: machine.state!, at: start).contains("Bags <3 & 4> lost"))
    }

    /// Every template of the sample plan, in every locale, finds a value for every variable it
    /// uses, apart from the ones that are empty by design in that case.
    @Test(arguments: ["zh-Hant", "zh-Hans", "en"])
    func everyTemplateRendersInEveryLocaleWithoutMissingValues(_ locale: String) throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        let localParcels = parcels.map { Parcel(waybill: $0.waybill, customerID: $0.customerID, locale: locale) }
        let log = run(renderer, type: "vehicle-accident", severity: .serious, parcels: localParcels, until: 60)
        var rendered: Set<TemplateID> = []
        for (now, action, state) in log {
            let text: String
            let missing: [String]
            switch action {
            case .page(let page):
                (text, missing) = renderer.renderListingMissing(
                    .page, locale: locale, renderer.values(page, incident: state, at: now, locale: locale))
                // A page names who passed it on or whom it backs up, or neither.
                #expect(Set(missing).isSubset(of: ["escalated_by", "fallback_from"]), "page: \(missing)")
                rendered.insert(.page)
            case .publishStatus(let update):
                (text, missing) = renderer.renderListingMissing(
                    .status, locale: locale, renderer.values(update, incident: state, locale: locale))
                // Only departments nobody has acknowledged yet lack an acknowledger.
                #expect(Set(missing).isSubset(of: ["acknowledged_by", "acknowledged_at"]), "status: \(missing)")
                rendered.insert(.status)
            case .sendNotices(let batch):
                (text, missing) = renderer.renderListingMissing(
                    batch.template, locale: locale,
                    renderer.values(batch, parcel: localParcels[0], incident: state, at: now, locale: locale))
                #expect(missing == [], "\(batch.template): \(missing)")
                rendered.insert(batch.template)
            default:
                continue
            }
            #expect(!text.isEmpty)
            #expect(!text.contains("{{"))
        }
        // Resolve to render the closing notices too.
        var machine = IncidentStateMachine(plan: renderer.document.plan, state: log.last?.2)
        let end = start + .seconds(61 * 60)
        for action in machine.handle(.resolve(note: nil), at: end) {
            guard case .sendNotices(let batch) = action else { continue }
            let (text, missing) = renderer.renderListingMissing(
                batch.template, locale: locale,
                renderer.values(batch, parcel: localParcels[0], incident: machine.state!, at: end, locale: locale))
            #expect(missing == [], "\(batch.template): \(missing)")
            #expect(text.contains("XD000001"))
            rendered.insert(batch.template)
        }
        let compensation = renderer.renderListingMissing(
            .notice(.compensation), locale: locale,
            renderer.values(
                NoticeBatchSample.compensation(renderer), parcel: localParcels[0], incident: machine.state!, at: end,
                locale: locale))
        #expect(compensation.1 == [])
        #expect(compensation.0.contains("XD000001"))
        #expect(rendered.isSuperset(of: [.page, .status, .notice(.initial), .notice(.progress), .notice(.resolved)]))
    }
}

/// Mustache's transforms work on the variables' texts as on any text.
@Test func transformsApplyToTexts() throws {
    let sample = try Renderer.load(contentsOf: samplePlanPath).document
    let locale = sample.plan.defaultLocale
    var templates = sample.templates
    templates[.page] = [
        locale: TemplateSource(
            text: "{{uppercased(contact)}}|{{#empty(details)}}none{{/empty(details)}}{{^empty(details)}}some{{/empty(details)}}",
            line: 1, column: 1)
    ]
    let renderer = Renderer(
        document: PlanDocument(
            file: sample.file, plan: sample.plan, locales: sample.locales, names: sample.names, templates: templates))
    let log = run(renderer, type: "vehicle-accident", severity: .serious, until: 0)
    let (now, page, state) = try #require(
        log.lazy.compactMap { entry -> (Timestamp, Page, IncidentState)? in
            if case .page(let page) = entry.1 { (entry.0, page, entry.2) } else { nil }
        }.first)
    let text = renderer.renderListingMissing(.page, locale: locale, renderer.values(page, incident: state, at: now, locale: locale)).0
    let contact = try #require(renderer.document.plan.contact(page.contact)?.name)
    #expect(text == contact.uppercased() + "|some")
}

/// A template may name any variable config/README.md lists for its kind; each is worked out only
/// when asked for, so each needs its own answer.
@Test func everyDocumentedVariableHasAValue() throws {
    let sample = try Renderer.load(contentsOf: samplePlanPath).document
    /// Every variable of a kind once, lists as sections over their items.
    func naming(_ names: [String]) -> TemplateSource {
        let text = names.map { name in
            switch name {
            case "responsibilities": "{{#responsibilities}}{{.}}{{/responsibilities}}"
            case "departments":
                "{{#departments}}" + TemplateVariables.departmentItem.map { "{{\($0)}}" }.joined() + "{{/departments}}"
            default: "{{\(name)}}"
            }
        }.joined(separator: "|")
        return TemplateSource(text: text, line: 1, column: 1)
    }
    let locale = sample.plan.defaultLocale
    var templates = sample.templates
    for id in [TemplateID.page, .status, .notice(.initial)] {
        templates[id] = [locale: naming(TemplateVariables.allowed(in: id))]
    }
    let renderer = Renderer(
        document: PlanDocument(
            file: sample.file, plan: sample.plan, locales: sample.locales, utcOffsetSeconds: sample.utcOffsetSeconds,
            hotline: "+852 2345 6789", supportEmail: "care@example.com", names: sample.names, templates: templates))
    let parcel = Parcel(waybill: "XD000001", customerID: "C-1", locale: locale)
    let log = run(renderer, type: "vehicle-accident", severity: .serious, parcels: [parcel], until: 60)
    var checked: Set<TemplateID> = []
    for (now, action, state) in log {
        switch action {
        case .page(let page):
            let missing = renderer.renderListingMissing(.page, locale: locale, renderer.values(page, incident: state, at: now, locale: locale)).1
            #expect(Set(missing).isSubset(of: ["escalated_by", "fallback_from"]), "page: \(missing)")
            checked.insert(.page)
        case .publishStatus(let update):
            let missing = renderer.renderListingMissing(.status, locale: locale, renderer.values(update, incident: state, locale: locale)).1
            #expect(Set(missing).isSubset(of: ["acknowledged_by", "acknowledged_at"]), "status: \(missing)")
            checked.insert(.status)
        case .sendNotices(let batch) where batch.template == .notice(.initial):
            let missing = renderer.renderListingMissing(
                .notice(.initial), locale: locale, renderer.values(batch, parcel: parcel, incident: state, at: now, locale: locale)).1
            #expect(missing == [], "notice: \(missing)")
            checked.insert(.notice(.initial))
        default:
            continue
        }
    }
    #expect(checked == [.page, .status, .notice(.initial)])
}

/// A compensation batch, which vehicle-accident III does not send, taken from a parcel-loss run.
enum NoticeBatchSample {
    static func compensation(_ renderer: Renderer) -> NoticeBatch {
        var machine = IncidentStateMachine(plan: renderer.document.plan)
        _ = machine.handle(
            .trigger(Trigger(incident: "i", key: "k", type: "parcel-loss", severity: .general, title: "t", affected: parcels)),
            at: start)
        return machine.handle(.resolve(note: nil), at: start).compactMap {
            if case .sendNotices(let batch) = $0, batch.kind == .compensation { batch } else { nil }
        }[0]
    }
}

let fixturesFolder = samplePlanPath.replacingOccurrences(of: "config/plan.yaml", with: "Tests/PlanFileTests/Fixtures")

@Suite struct TemplateCheckTests {
    @Test(arguments: [
        (
            "template-unknown-variable",
            "46:37: template 'page' (en): unknown variable 'departmnet'; did you mean 'department'? the variables of page templates are listed in config/README.md"
        ),
        (
            "template-unknown-section",
            "45:57: template 'notice.initial' (en): unknown variable 'compensation'; the variables of notice templates are listed in config/README.md"
        ),
        (
            "template-syntax",
            "45:7: template 'page' (en): Mustache syntax: section 'drill' is never closed; add {{/drill}}"
        ),
    ])
    func aTemplateThatUsesAnUnknownVariableIsRefusedAtTheTag(_ fixture: String, _ expected: String) {
        let path = "\(fixturesFolder)/\(fixture).yaml"
        do {
            _ = try Renderer.load(contentsOf: path)
            Issue.record("\(fixture) loaded")
        } catch {
            #expect(error.problems.map { "\($0.line):\($0.column): \($0.message)" } == [expected])
        }
    }

    @Test func withoutTheCheckerTheLoaderDoesNotJudgeVariables() throws {
        _ = try PlanLoader.load(contentsOf: "\(fixturesFolder)/template-unknown-variable.yaml")
    }
}

@Suite struct DocumentationTests {
    /// The example in config/README.md is a plan that loads, once its elided notices are filled in.
    @Test func theExampleInTheConfigReadmeIsAValidPlan() throws {
        let readme = try String(contentsOfFile: samplePlanPath.replacingOccurrences(of: "plan.yaml", with: "README.md"), encoding: .utf8)
        let example = try #require(readme.components(separatedBy: "```yaml\n").dropFirst().first?.components(separatedBy: "```").first)
        let filled = example.replacingOccurrences(
            of: ": ...", with: #": {zh-Hant: "{{waybill}}", en: "{{waybill}}"}"#)
        let document = try PlanLoader.parse(filled, file: "config/README.md", templates: Renderer.checker)
        #expect(document.plan.departments.map(\.id) == ["command-centre", "operations"])
        #expect(document.plan.department("operations")?.callOrder.steps.count == 3)
    }
}
