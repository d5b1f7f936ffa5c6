import CallTree
import Foundation
import PlanFile
import Testing

/// A plan file under Fixtures/ and the problems it must be refused with.
struct BrokenPlan: CustomTestStringConvertible, Sendable {
    var fixture: String
    /// `line:column: message`, in file order.
    var problems: [String]

    var testDescription: String { fixture }
}

let fixturesFolder = samplePlanPath.replacingOccurrences(
    of: "config/plan.yaml", with: "Tests/PlanFileTests/Fixtures")

let brokenPlans: [BrokenPlan] = [
    BrokenPlan(fixture: "unknown-contact", problems: [
        "31:9: unknown contact 'bobb' in step 1 of department 'operations'; did you mean 'bob'?",
    ]),
    BrokenPlan(fixture: "duplicate-contact", problems: [
        "22:3: duplicate key 'ann' in contacts (the first is on line 14); remove or rename one of them",
    ]),
    BrokenPlan(fixture: "bad-id", problems: [
        "18:3: contact id 'Bob_Lee' must use only a-z, 0-9 and '-' and start with a letter or digit, such as 'bob-lee'",
        "31:9: unknown contact 'bob' in step 1 of department 'operations'; define it under contacts: or fix the id",
    ]),
    BrokenPlan(fixture: "unknown-department", problems: [
        "40:26: unknown department 'operation' in severity II of incident type 'parcel-delay'; did you mean 'operations'?",
    ]),
    BrokenPlan(fixture: "engaged-without-call-order", problems: [
        "36:41: department 'operations' is engaged by severity I of incident type 'parcel-delay' but has no call_order; add call_order: with at least one step to departments.operations",
        "37:26: department 'operations' is engaged by severity II of incident type 'parcel-delay' but has no call_order; add call_order: with at least one step to departments.operations",
    ]),
    BrokenPlan(fixture: "empty-step", problems: [
        "31:9: step 1 of department 'operations' is empty; name at least one contact or remove the step",
    ]),
    BrokenPlan(fixture: "zero-timeout", problems: [
        "32:36: the timeout of step 2 of department 'operations' must be longer than zero, found '0m'; write a duration such as 5m",
    ]),
    BrokenPlan(fixture: "negative-timeout", problems: [
        "32:36: the timeout of step 2 of department 'operations' must be longer than zero, found '-5m'; write a duration such as 5m",
    ]),
    BrokenPlan(fixture: "timeout-without-unit", problems: [
        "32:36: the timeout of step 2 of department 'operations' must be a duration such as 90s, 5m or 1h30m, found '10'; add a unit, such as 10m",
    ]),
    BrokenPlan(fixture: "fallback-cycle", problems: [
        "28:15: fallback cycle command-centre → operations → command-centre: paging would never end; give one of them fallback: none (usually command-centre)",
    ]),
    BrokenPlan(fixture: "severity-without-rule", problems: [
        "38:5: incident type 'parcel-delay' has no rule for severity II; add II: {departments: [...]} (an empty list opens the incident without paging)",
    ]),
    BrokenPlan(fixture: "template-missing-locale", problems: [
        "44:3: template 'page' has no text for locale 'zh-Hant', which contact 'ann' reads; add a 'zh-Hant:' text",
    ]),
    BrokenPlan(fixture: "unknown-template", problems: [
        "45:3: unknown key 'notice.inital' in templates; did you mean 'notice.initial'?",
    ]),
    BrokenPlan(fixture: "channel-without-address", problems: [
        "21:9: sms channel of contact 'bob' has no address; write the number (\"+852 5550 0101\") after 'sms:' or remove the line",
    ]),
    BrokenPlan(fixture: "unknown-channel", problems: [
        "21:9: unknown key 'pager' in the channels of contact 'bob'; allowed keys: phone, sms, email, im",
    ]),
    BrokenPlan(fixture: "unknown-key", problems: [
        "32:27: unknown key 'timout' in step 2 of department 'operations'; did you mean 'timeout'?",
    ]),
    BrokenPlan(fixture: "unknown-notice", problems: [
        "39:64: unknown notice 'intial' in severity I of incident type 'parcel-delay'; did you mean 'initial'? notices are initial, progress, resolved, compensation",
    ]),
    BrokenPlan(fixture: "yaml-syntax", problems: [
        "13:9: YAML syntax: did not find expected ',' or '}' (while parsing a flow mapping); check indentation and quoting here",
    ]),
    BrokenPlan(fixture: "misspelt-section", problems: [
        "13:1: unknown key 'contact' in the plan file; did you mean 'contacts'?",
    ]),
    BrokenPlan(fixture: "duplicate-department", problems: [
        "28:3: duplicate key 'command-centre' in departments (the first is on line 24); remove or rename one of them",
    ]),
    BrokenPlan(fixture: "unknown-severity", problems: [
        "41:7: unknown severity 'V' in incident type 'parcel-delay'; use one defined under severities: (I, II)",
    ]),
    BrokenPlan(fixture: "several-mistakes", problems: [
        "11:21: unknown key 'status_evry' in severity II; did you mean 'status_every'?",
        "31:9: unknown contact 'bobb' in step 1 of department 'operations'; did you mean 'bob'?",
        "32:36: the timeout of step 2 of department 'operations' must be longer than zero, found '0s'; write a duration such as 5m",
    ]),
]

@Suite struct BrokenPlanTests {
    @Test func theMinimalFixtureIsValid() throws {
        let document = try PlanLoader.load(contentsOf: "\(fixturesFolder)/minimal.yaml")
        #expect(document.plan.departments.count == 2)
    }

    @Test(arguments: brokenPlans)
    func aBrokenPlanIsRefusedWithEveryProblemAtItsLineAndColumn(_ broken: BrokenPlan) {
        let path = "\(fixturesFolder)/\(broken.fixture).yaml"
        #expect(throws: PlanProblems.self) { try PlanLoader.load(contentsOf: path) }
        do {
            _ = try PlanLoader.load(contentsOf: path)
        } catch {
            #expect(error.problems.map { "\($0.line):\($0.column): \($0.message)" } == broken.problems)
            #expect(error.problems.allSatisfy { $0.file == path })
        }
    }

    @Test func aProblemIsWrittenAsPathLineColumnMessage() {
        let problem = PlanProblem(file: "config/plan.yaml", line: 3, column: 7, message: "unknown key 'x' in plan")
        #expect(problem.description == "config/plan.yaml:3:7: unknown key 'x' in plan")
    }

    @Test func aMissingFileIsOneProblemNamingThePath() {
        do {
            _ = try PlanLoader.load(contentsOf: "/nonexistent/plan.yaml")
            Issue.record("a missing file loaded")
        } catch {
            #expect(error.problems.count == 1)
            #expect(error.problems.first?.file == "/nonexistent/plan.yaml")
        }
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [("90s", 90), ("5m", 300), ("1h30m", 5400), ("2h", 7200), ("1h1m1s", 3661), ("1d", 86400)])
    func durationsAreReadAsPlanOwnersWriteThem(_ text: String, _ seconds: Int64) {
        #expect(DurationText.parse(text) == .success(.seconds(seconds)))
    }

    @Test(arguments: [("500ms", 500), ("1s250ms", 1250), ("1m1ms", 60_001)])
    func subSecondDurationsAreReadForWorkerSettings(_ text: String, _ milliseconds: Int64) {
        #expect(DurationText.parse(text) == .success(.milliseconds(milliseconds)))
    }

    @Test(arguments: ["0m", "-5m", "0s"])
    func zeroAndNegativeDurationsAreRefused(_ text: String) {
        #expect(DurationText.parse(text) == .failure(.notPositive))
    }

    @Test func aDurationWrittenInWordsGetsItsShortForm() {
        do {
            _ = try PlanLoader.parse(
                "plan: {name: p, default_locale: en, locales: [en]}\nseverities:\n  I: {name: Critical, status_every: 30 min}\n",
                file: "plan.yaml")
            Issue.record("a plan with '30 min' loaded")
        } catch {
            #expect(error.problems.contains {
                $0.line == 3
                    && $0.message == "status_every of severity I must be a duration such as 90s, 5m or 1h30m, found '30 min'; write it as 30m"
            })
        }
    }

    @Test(arguments: ["5", "5 minutes", "m", "30m1h", "1.5h", "", "5ms1s", "1sm"])
    func textsThatAreNotDurationsAreRefused(_ text: String) {
        #expect(DurationText.parse(text) == .failure(.notADuration))
    }

    @Test func durationsAreWrittenInTheirShortestForm() {
        #expect(DurationText.format(.seconds(90)) == "1m30s")
        #expect(DurationText.format(.seconds(5400)) == "1h30m")
        #expect(DurationText.format(.seconds(300)) == "5m")
    }
}
