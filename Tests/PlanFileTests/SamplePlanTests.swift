import CallTree
import PlanFile
import Testing

/// The plan shipped in config/plan.yaml, found from this file so tests run from any folder.
let samplePlanPath: String = {
    let tests = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
    return "/\(tests)/config/plan.yaml"
}()

@Suite struct SamplePlanTests {
    @Test func theSamplePlanLoadsWithoutProblems() throws {
        let document = try PlanLoader.load(contentsOf: samplePlanPath)
        #expect(document.plan.name == "迅達快遞 緊急預案")
        #expect(document.plan.defaultLocale == "zh-Hant")
        #expect(document.locales == ["zh-Hant", "zh-Hans", "en"])
        #expect(document.utcOffsetSeconds == 8 * 3600)
    }

    @Test func theSamplePlanHasTheSeedsIncidentTypesAndFourSeverities() throws {
        let plan = try PlanLoader.load(contentsOf: samplePlanPath).plan
        #expect(
            plan.incidentTypes.map(\.id) == [
                "vehicle-accident", "warehouse-fire", "natural-disaster", "network-outage", "parcel-delay", "parcel-loss",
            ])
        #expect(plan.severities.map(\.severity) == [.critical, .major, .serious, .general])
        #expect(plan.severityLevel(.critical)?.name == "特別重大")
        #expect(plan.severityLevel(.critical)?.statusCadence == .seconds(15 * 60))
        #expect(plan.severityLevel(.general)?.statusCadence == .seconds(4 * 3600))
        for type in plan.incidentTypes {
            #expect(Set(type.rules.keys) == Set(Severity.allCases), "\(type.id) lacks a rule")
        }
    }

    @Test func departmentsGetTheirCallOrdersWithDefaultsApplied() throws {
        let plan = try PlanLoader.load(contentsOf: samplePlanPath).plan
        #expect(plan.departments.count == 7)
        let command = try #require(plan.department("command-centre"))
        #expect(command.callOrder.rounds == 3)
        #expect(command.callOrder.fallback == nil)
        #expect(command.callOrder.steps.map(\.contacts) == [["chan-tai-man"], ["lau-wai-ling"], ["ho-chi-keung"]])
        #expect(command.callOrder.steps.map(\.timeout) == [.seconds(300), .seconds(300), .seconds(600)])

        let site = try #require(plan.department("site-supervisor"))
        #expect(site.callOrder.rounds == 2)
        #expect(site.callOrder.fallback == "command-centre")
        #expect(site.callOrder.steps.first?.contacts == ["wong-siu-ming", "cheung-ka-yan"])
        #expect(site.responsibilities.first == "到場確保人員安全")

        let finance = try #require(plan.department("finance"))
        #expect(finance.callOrder.rounds == 1)
        #expect(finance.callOrder.steps.map(\.timeout) == [.seconds(900), .seconds(900)])
    }

    @Test func contactsKeepTheirChannelsInOrderOfPreference() throws {
        let plan = try PlanLoader.load(contentsOf: samplePlanPath).plan
        #expect(plan.contacts.count >= 15)
        let zhou = try #require(plan.contact("zhou-jian"))
        #expect(zhou.locale == "zh-Hans")
        #expect(zhou.channels == [
            ContactChannel(.phone, "+86 138 0000 0301"), ContactChannel(.im, "@zhoujian"),
            ContactChannel(.sms, "+86 138 0000 0301"),
        ])
        #expect(plan.contact("chan-tai-man")?.mayResolve == true)
        #expect(plan.contact("lee-dispatch")?.mayResolve == false)
        #expect(plan.contacts.allSatisfy { $0.channels.count >= 2 })
    }

    @Test func anchoredNoticeListsAreSharedByRules() throws {
        let plan = try PlanLoader.load(contentsOf: samplePlanPath).plan
        let rule = try #require(plan.rule(for: "parcel-loss", at: .critical))
        #expect(rule.notices == Set(NoticeKind.allCases))
        #expect(rule.departments == ["command-centre", "operations", "customer-service", "finance", "insurer-liaison"])
        #expect(plan.rule(for: "network-outage", at: .general)?.notices == [])
    }

    @Test func namesAndTemplatesExistInEveryLocale() throws {
        let document = try PlanLoader.load(contentsOf: samplePlanPath)
        #expect(document.names.incidentType("warehouse-fire", locale: "en") == "Warehouse fire")
        #expect(document.names.department("it", locale: "zh-Hans") == "信息技术部")
        #expect(document.names.severity(.major, locale: "en") == "Major")
        #expect(document.names.responsibilities("it", locale: "en", defaultLocale: "zh-Hant")?.count == 3)
        for template in knownTemplates {
            #expect(Set(document.templates[template]?.keys.map { $0 } ?? []) == ["zh-Hant", "zh-Hans", "en"], "\(template)")
        }
    }
}
