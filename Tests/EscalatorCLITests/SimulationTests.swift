import CallTree
import EscalatorCLI
import Foundation
import PlanFile
import Rendering
import Testing

let root = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
let samplePlanPath = "\(root)/config/plan.yaml"
let start = Timestamp(secondsSinceEpoch: 1_795_939_200)  // 2026-11-29 16:00 at +08:00

func simulate(
    _ type: IncidentTypeID, _ severity: Severity, configure: (inout Simulation.Options) throws -> Void = { _ in }
) throws -> SimulatedTimeline {
    let renderer = try Renderer.load(contentsOf: samplePlanPath)
    var options = Simulation.Options(type: type, severity: severity, start: start)
    try configure(&options)
    let simulation = Simulation(renderer: renderer, options: options)
    #expect(simulation.problems() == [])
    return simulation.run()
}

/// `+5m operations r1s2 tam-mei-yee`: what the tests compare.
func pageLines(_ timeline: SimulatedTimeline) -> [String] {
    timeline.pages.map { "\($0.offset) \($0.department!) r\($0.round!)s\($0.step!) \($0.contact!)" }
}

func kinds(_ timeline: SimulatedTimeline, at offset: String) -> [String] {
    timeline.entries.filter { $0.offset == offset }.map { "\($0.kind.rawValue) \($0.department ?? $0.notice ?? $0.state ?? "")" }
}

@Suite struct SimulationTests {
    @Test func aParcelDelayNobodyAnswersWalksCustomerServiceThenTheCommandCentreUntilExhausted() throws {
        let timeline = try simulate("parcel-delay", .general)
        #expect(
            pageLines(timeline) == [
                "+0m customer-service r1s1 ng-cs-lead",
                "+5m customer-service r1s2 yip-siu-fan",
                "+15m customer-service r2s1 ng-cs-lead",
                "+20m customer-service r2s2 yip-siu-fan",
                "+30m command-centre r1s1 chan-tai-man",
                "+35m command-centre r1s2 lau-wai-ling",
                "+40m command-centre r1s3 ho-chi-keung",
                "+50m command-centre r2s1 chan-tai-man",
                "+55m command-centre r2s2 lau-wai-ling",
                "+1h command-centre r2s3 ho-chi-keung",
                "+1h10m command-centre r3s1 chan-tai-man",
                "+1h15m command-centre r3s2 lau-wai-ling",
                "+1h20m command-centre r3s3 ho-chi-keung",
            ])
        // Round 2 uses each contact's second channel.
        #expect(timeline.pages.map { $0.channel! }.prefix(4) == ["phone", "phone", "im", "email"])
        // The status says open: the command centre is being paged now.
        #expect(
            kinds(timeline, at: "+30m") == [
                "timeout customer-service", "exhausted customer-service", "engaged command-centre", "page command-centre",
                "status open",
            ])
        #expect(timeline.entries.last?.offset == "+1h30m")
        #expect(timeline.entries.last?.kind == .status)
        #expect(timeline.entries.last?.state == "exhausted")
        #expect(timeline.end == "paging is over; the incident stays open with a status update every 4h until it is resolved")
    }

    @Test func acksAndAnEscalationChangeWhoIsPagedAndWhen() throws {
        let timeline = try simulate("vehicle-accident", .serious) { options in
            options.acks = [try SimulationArguments.reply("site-supervisor@3m"), try SimulationArguments.reply("insurer-liaison@9m")]
            options.escalations = [try SimulationArguments.reply("operations@2m")]
            options.resolveAfter = .seconds(25 * 60)
            options.affected = 4
        }
        #expect(
            pageLines(timeline) == [
                "+0m site-supervisor r1s1 wong-siu-ming",
                "+0m site-supervisor r1s1 cheung-ka-yan",
                "+0m operations r1s1 lee-dispatch",
                "+0m insurer-liaison r1s1 fung-insurance",
                "+2m operations r1s2 tam-mei-yee",
                "+2m operations r1s2 liu-yang",
                "+5m insurer-liaison r1s2 emma-clarke",
                "+7m operations r2s1 lee-dispatch",
                "+12m operations r2s2 tam-mei-yee",
                "+12m operations r2s2 liu-yang",
                "+17m command-centre r1s1 chan-tai-man",
                "+22m command-centre r1s2 lau-wai-ling",
            ])
        let acks = timeline.entries.filter { $0.kind == .ack }.map { "\($0.offset) \($0.department!) \($0.contact!)" }
        #expect(acks == ["+3m site-supervisor wong-siu-ming", "+9m insurer-liaison fung-insurance"])
        #expect(kinds(timeline, at: "+2m").first == "escalate operations")
        #expect(kinds(timeline, at: "+17m").prefix(3) == ["timeout operations", "exhausted operations", "engaged command-centre"])
        #expect(timeline.entries.last?.offset == "+25m")
        #expect(timeline.end == "resolved")
        // The Shenzhen dispatcher reads Simplified Chinese, the insurer English.
        #expect(timeline.pages.first { $0.contact == "liu-yang" }?.text?.contains("请代表运营调度部处理(李國華 (調度值班)转交)") == true)
        #expect(timeline.pages.first { $0.contact == "emma-clarke" }?.text?.contains("please take this for Insurer liaison") == true)
        // Notices are counted; one sample per kind, rendered.
        let notices = timeline.entries.filter { $0.kind == .notices }.map { "\($0.offset) \($0.count!) \($0.notice!)" }
        #expect(notices == ["+0m 4 initial", "+25m 4 resolved"])
        #expect(timeline.samples.map(\.kind) == ["initial", "resolved"])
        #expect(timeline.samples.first?.text.hasPrefix("迅達快遞通知:您的快件 SIM000001 受車輛事故影響") == true)
    }

    @Test func aDrillOfANetworkOutageIsMarkedAndEndsWhenResolved() throws {
        let timeline = try simulate("network-outage", .critical) { options in
            options.acks = [
                try SimulationArguments.reply("command-centre@1m"), try SimulationArguments.reply("it:sun-li@2m"),
                try SimulationArguments.reply("operations@4m"), try SimulationArguments.reply("customer-service@4m"),
            ]
            options.resolveAfter = .seconds(40 * 60)
            options.drill = true
            options.affected = 2
            options.locale = "en"
        }
        #expect(
            pageLines(timeline) == [
                "+0m command-centre r1s1 chan-tai-man",
                "+0m it r1s1 raj-patel",
                "+0m it r1s1 sun-li",
                "+0m operations r1s1 lee-dispatch",
                "+0m customer-service r1s1 ng-cs-lead",
            ])
        #expect(timeline.pages.allSatisfy { $0.text?.contains("演練") == true || $0.text?.contains("DRILL") == true || $0.text?.contains("演练") == true })
        let statuses = timeline.entries.filter { $0.kind == .status }.map { "\($0.offset) \($0.state!)" }
        #expect(statuses == [
            "+0m open", "+1m open", "+2m open", "+4m open", "+4m acknowledged", "+15m acknowledged", "+30m acknowledged",
            "+40m resolved",
        ])
        #expect(timeline.entries.filter { $0.kind == .status }.last?.text?.hasPrefix("[DRILL] Status #8") == true)
        #expect(timeline.samples.map(\.kind) == ["initial", "progress", "resolved"])
        #expect(timeline.samples.allSatisfy { $0.text.hasPrefix("[DRILL] Xunda Express") })
    }

    @Test func anAckForADepartmentNotYetPagedIsNotedAndChangesNothing() throws {
        let timeline = try simulate("parcel-delay", .general) { options in
            options.acks = [try SimulationArguments.reply("command-centre@10m")]
        }
        let note = try #require(timeline.entries.first { $0.kind == .note })
        #expect(note.offset == "+10m")
        #expect(note.detail == "ack for command-centre not sent: nobody in it has been paged yet")
        #expect(pageLines(timeline).count == 13)
    }

    @Test func theTimelineIsValidJSONWithEveryPage() throws {
        let timeline = try simulate("warehouse-fire", .major) { $0.affected = 2 }
        let data = Data(timeline.json().utf8)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["type"] as? String == "warehouse-fire")
        let entries = try #require(object["entries"] as? [[String: Any]])
        #expect(entries.filter { $0["kind"] as? String == "page" }.count == timeline.pages.count)
        #expect(entries.first?["offset_milliseconds"] as? Int == 0)
        let decoded = try JSONDecoder().decodeSnakeCase(SimulatedTimeline.self, from: data)
        #expect(decoded == timeline)
    }

    @Test func theTextTimelineShowsEachPageWithItsRenderedText() throws {
        let text = try simulate("parcel-loss", .general) { $0.affected = 1 }.text()
        #expect(text.hasPrefix("Simulating 快件丟失 (parcel-loss), severity IV 一般, 1 affected parcel, locale zh-Hant\n"))
        #expect(text.contains("+0m      page      customer-service r1s1  ng-cs-lead 吳詠詩 (客服組長)  phone +852 5550 0401  ack by +5m\n"))
        #expect(text.contains("           │ 吳詠詩 (客服組長),請代表客服部處理:\n"))
        #expect(text.contains("Sample initial notice (SIM000001):\n  迅達快遞通知:您的快件 SIM000001 受快件丟失影響"))
    }

    @Test func optionsThatDoNotFitThePlanAreRefused() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        var options = Simulation.Options(type: "meteor-strike", severity: .critical, start: start)
        options.acks = [.init(department: "marketing", after: .seconds(60)), .init(department: "it", contact: "ann", after: .seconds(60))]
        options.locale = "fr"
        let problems = Simulation(renderer: renderer, options: options).problems()
        #expect(problems.count == 4)
        #expect(problems.first?.hasPrefix("unknown incident type 'meteor-strike'; the plan has vehicle-accident, ") == true)
        #expect(problems.contains("contact 'ann' is not in the call order of it"))
    }
}

@Suite struct SimulationArgumentTests {
    @Test func aReplyNamesADepartmentOptionallyAContactAndAnOffset() throws {
        #expect(try SimulationArguments.reply("operations@5m") == .init(department: "operations", after: .seconds(300)))
        #expect(
            try SimulationArguments.reply("it:sun-li@1h30m")
                == .init(department: "it", contact: "sun-li", after: .seconds(5400)))
        #expect(try SimulationArguments.reply("it@0m").after == .zero)
    }

    @Test(arguments: ["operations", "operations@", "@5m", "operations@5", "a:b:c@5m", "operations@-5m"])
    func aMalformedReplyIsRefused(_ text: String) {
        #expect(throws: SimulationArguments.Invalid.self) { try SimulationArguments.reply(text) }
    }

    @Test func severitiesAreNumbersOrRomanNumerals() {
        #expect(SimulationArguments.severity("1") == .critical)
        #expect(SimulationArguments.severity("iv") == .general)
        #expect(SimulationArguments.severity("5") == nil)
    }
}

@Suite struct ConfigCheckTests {
    @Test func theSamplePlanChecksAndIsSummarisedOnOneScreen() throws {
        guard case .valid(_, let summary) = ConfigCheck.run(path: samplePlanPath) else {
            Issue.record("the sample plan is not valid")
            return
        }
        #expect(summary.contains("6 incident types, 4 severities, 7 departments, 18 contacts, locales zh-Hant, zh-Hans, en"))
        #expect(summary.contains("  parcel-delay      1h        1h20m     1h20m     1h30m     \n"))
        #expect(summary.split(separator: "\n").count < 25)
    }

    @Test func aBrokenPlanGivesEveryProblem() {
        let path = "\(root)/Tests/PlanFileTests/Fixtures/several-mistakes.yaml"
        guard case .invalid(let problems) = ConfigCheck.run(path: path) else {
            Issue.record("a broken plan checked")
            return
        }
        #expect(problems.map(\.line) == [11, 31, 32])
        #expect(problems.allSatisfy { $0.description.hasPrefix("\(path):") })
    }

    @Test func exhaustionIsTheLastStepOfTheLongestChain() throws {
        let renderer = try Renderer.load(contentsOf: samplePlanPath)
        // Finance: 15m + 15m, one round, then the command centre's 3 rounds of 5m + 5m + 10m.
        #expect(ConfigCheck.exhaustion(renderer, "parcel-loss", .major) == .seconds(80 * 60))
        #expect(ConfigCheck.exhaustion(renderer, "network-outage", .general) == .seconds(84 * 60))
    }
}

extension JSONDecoder {
    func decodeSnakeCase<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        keyDecodingStrategy = .convertFromSnakeCase
        return try decode(type, from: data)
    }
}
