import CallTree
import Foundation
import Testing
import WireContract

@Suite("incident.v1 from upstream")
struct IncidentMessageTests {
    static let types: Set<IncidentTypeID> = ["warehouse-fire", "vehicle-accident"]

    static var validTrigger: [String: Any] { [
        "schema": "incident.v1", "event_id": "evt-1", "action": "trigger", "incident_key": "tsuen-wan-fire",
        "type": "warehouse-fire", "severity": 2, "title": "Fire at Tsuen Wan hub", "details": "Sprinklers on",
        "site": "TW-hub", "region": "NT", "occurred_at": "2026-11-29T08:15:00+08:00", "eta": "2026-11-29T12:00:00Z",
        "affected": [["waybill": "WB1", "customer_id": "C1", "locale": "zh-Hant"], ["waybill": "WB2", "customer_id": "C2"]],
        "drill": true,
    ] }

    static func body(_ fields: [String: Any], without removed: [String] = []) -> [UInt8] {
        var object = fields
        for key in removed { object[key] = nil }
        return Array(try! JSONSerialization.data(withJSONObject: object))
    }

    static func violation(_ bytes: [UInt8]) -> ContractViolation? {
        do {
            _ = try IncidentMessage(bytes: bytes, knownTypes: types)
            return nil
        } catch {
            return error
        }
    }

    @Test func aCompleteTriggerIsAcceptedWithEveryField() throws {
        let message = try IncidentMessage(bytes: Self.body(Self.validTrigger), knownTypes: Self.types)
        #expect(message.eventID == "evt-1")
        #expect(message.action == .trigger)
        #expect(message.severity == .major)
        #expect(message.occurredAt == Timestamp(millisecondsSinceEpoch: 1_795_911_300_000))
        #expect(message.affected == [Parcel(waybill: "WB1", customerID: "C1", locale: "zh-Hant"), Parcel(waybill: "WB2", customerID: "C2")])
        #expect(message.drill)

        guard case .trigger(let trigger) = message.event(opening: "inc-9") else {
            Issue.record("a trigger message must become a trigger event")
            return
        }
        #expect(trigger.incident == "inc-9" && trigger.key == "tsuen-wan-fire" && trigger.site == "TW-hub")
    }

    @Test(arguments: 1...4)
    func everySeverityFromOneToFourIsAccepted(severity: Int) throws {
        var fields = Self.validTrigger
        fields["severity"] = severity
        #expect(try IncidentMessage(bytes: Self.body(fields), knownTypes: Self.types).severity?.rawValue == severity)
    }

    @Test func aResolveNeedsOnlyItsKey() throws {
        let message = try IncidentMessage(
            bytes: Self.body(["schema": "incident.v1", "event_id": "evt-2", "action": "resolve", "incident_key": "k"]),
            knownTypes: Self.types)
        #expect(message.event(opening: "unused") == .resolve(note: nil))
    }

    @Test func fieldsUpstreamAddsLaterAreIgnored() throws {
        var fields = Self.validTrigger
        fields["priority_hint"] = "high"
        #expect(throws: Never.self) { try IncidentMessage(bytes: Self.body(fields), knownTypes: Self.types) }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        let code: ContractViolation.Code
        let message: String
        var testDescription: String { name }
    }

    static func with(_ key: String, _ value: Any) -> [UInt8] {
        var fields = validTrigger
        fields[key] = value
        return body(fields)
    }

    static let invalid: [Case] = [
        Case(name: "not JSON", bytes: Array("{not json".utf8), code: .notJSON,
             message: "the body is not valid UTF-8 JSON; expected a incident.v1 object"),
        Case(name: "a JSON array", bytes: Array("[1]".utf8), code: .notJSON,
             message: "the body is JSON but not an object; expected a incident.v1 object"),
        Case(name: "another schema", bytes: with("schema", "incident.v2"), code: .wrongSchema,
             message: "field 'schema' must be \"incident.v1\", found incident.v2"),
        Case(name: "no event id", bytes: body(validTrigger, without: ["event_id"]), code: .missingField,
             message: "field 'event_id' is required in incident.v1"),
        Case(name: "an event id too long", bytes: with("event_id", String(repeating: "e", count: 129)), code: .invalidField,
             message: "field 'event_id' must be 1–128 characters, found 129"),
        Case(name: "an unknown action", bytes: with("action", "open"), code: .invalidField,
             message: "field 'action' must be trigger, update or resolve, found \"open\""),
        Case(name: "an unknown type", bytes: with("type", "alien-invasion"), code: .unknownType,
             message: "field 'type' names \"alien-invasion\", which the plan does not define; known types: vehicle-accident, warehouse-fire"),
        Case(name: "severity out of range", bytes: with("severity", 7), code: .invalidField,
             message: "field 'severity' must be an integer from 1 to 4"),
        Case(name: "severity as text", bytes: with("severity", "II"), code: .invalidField,
             message: "field 'severity' must be an integer from 1 to 4"),
        Case(name: "a title too long", bytes: with("title", String(repeating: "火", count: 201)), code: .invalidField,
             message: "field 'title' must be 1–200 characters, found 201"),
        Case(name: "details too long", bytes: with("details", String(repeating: "x", count: 4001)), code: .invalidField,
             message: "field 'details' must be 0–4000 characters, found 4001"),
        Case(name: "a time that is not RFC 3339", bytes: with("occurred_at", "29/11/2026 08:15"), code: .invalidField,
             message: "field 'occurred_at' must be an RFC 3339 time such as 2026-11-29T08:15:00Z, found \"29/11/2026 08:15\""),
        Case(name: "a trigger without occurred_at", bytes: body(validTrigger, without: ["occurred_at"]), code: .missingField,
             message: "field 'occurred_at' is required in incident.v1"),
        Case(name: "a parcel without customer", bytes: with("affected", [["waybill": "WB1"]]), code: .missingField,
             message: "field 'affected[0].customer_id' is required in incident.v1"),
        Case(name: "drill as text", bytes: with("drill", "yes"), code: .invalidField, message: "field 'drill' must be true or false"),
        Case(name: "drill as a number", bytes: with("drill", 1), code: .invalidField, message: "field 'drill' must be true or false"),
        Case(name: "severity as a boolean", bytes: with("severity", true), code: .invalidField,
             message: "field 'severity' must be an integer from 1 to 4"),
        Case(name: "over the size limit", bytes: Array(("{\"schema\":\"incident.v1\",\"details\":\"" + String(repeating: "x", count: 1 << 20) + "\"}").utf8),
             code: .tooLarge, message: "incident.v1 message is 1048613 bytes; the limit is 1048576 bytes"),
    ]

    @Test(arguments: invalid)
    func invalidMessagesAreRefusedWithAReasonTheSenderCanAct(on invalid: Case) {
        let violation = Self.violation(invalid.bytes)
        #expect(violation?.code == invalid.code)
        #expect(violation?.message == invalid.message)
    }
}
