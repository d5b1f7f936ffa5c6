import CallTree
import Foundation

/// Reads the fields of one incoming JSON object, turning every way a field can be wrong into a
/// `ContractViolation` that names the field and what is expected of it.
struct JSONObjectReader {
    let schema: String
    let object: [String: Any]
    /// For nested objects: `affected[3].`.
    var prefix = ""

    init(schema: String, bytes: some Collection<UInt8>) throws(ContractViolation) {
        guard bytes.count <= WireJSON.maximumMessageSize else {
            throw ContractViolation(
                .tooLarge, "\(schema) message is \(bytes.count) bytes; the limit is \(WireJSON.maximumMessageSize) bytes")
        }
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(bytes)) else {
            throw ContractViolation(.notJSON, "the body is not valid UTF-8 JSON; expected a \(schema) object")
        }
        guard let object = parsed as? [String: Any] else {
            throw ContractViolation(.notJSON, "the body is JSON but not an object; expected a \(schema) object")
        }
        self.schema = schema
        self.object = object
        guard let found = object["schema"] as? String, found == schema else {
            let found = object["schema"].map { "\($0)" } ?? "nothing"
            throw ContractViolation(.wrongSchema, "field 'schema' must be \"\(schema)\", found \(found)")
        }
    }

    init(nested object: [String: Any], schema: String, prefix: String) {
        self.schema = schema
        self.object = object
        self.prefix = prefix
    }

    private func invalid(_ field: String, _ expectation: String) -> ContractViolation {
        ContractViolation(.invalidField, "field '\(prefix)\(field)' \(expectation)")
    }

    func has(_ field: String) -> Bool {
        guard let value = object[field] else { return false }
        return !(value is NSNull)
    }

    func string(_ field: String, length: ClosedRange<Int>) throws(ContractViolation) -> String {
        guard has(field) else {
            throw ContractViolation(.missingField, "field '\(prefix)\(field)' is required in \(schema)")
        }
        guard let value = object[field] as? String else {
            throw invalid(field, "must be a string")
        }
        guard length.contains(value.count) else {
            throw invalid(field, "must be \(length.lowerBound)–\(length.upperBound) characters, found \(value.count)")
        }
        return value
    }

    func optionalString(_ field: String, maximumLength: Int) throws(ContractViolation) -> String? {
        guard has(field) else { return nil }
        return try string(field, length: 0...maximumLength)
    }

    func integer(_ field: String, in range: ClosedRange<Int>) throws(ContractViolation) -> Int {
        guard has(field) else {
            throw ContractViolation(.missingField, "field '\(prefix)\(field)' is required in \(schema)")
        }
        // JSON booleans arrive as NSNumber too; their type code is "c".
        guard let number = object[field] as? NSNumber, !Self.isBoolean(number),
            let value = Int(exactly: number.doubleValue), range.contains(value)
        else {
            throw invalid(field, "must be an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    func boolean(_ field: String, default defaultValue: Bool) throws(ContractViolation) -> Bool {
        guard has(field) else { return defaultValue }
        // `as? Bool` also accepts the numbers 0 and 1: only a JSON true or false will do.
        guard let number = object[field] as? NSNumber, Self.isBoolean(number) else {
            throw invalid(field, "must be true or false")
        }
        return number.boolValue
    }

    private static func isBoolean(_ number: NSNumber) -> Bool {
        String(cString: number.objCType) == "c"
    }

    func time(_ field: String) throws(ContractViolation) -> Timestamp {
        let text = try string(field, length: 1...64)
        guard let time = RFC3339.parse(text) else {
            throw invalid(field, "must be an RFC 3339 time such as 2026-11-29T08:15:00Z, found \"\(text)\"")
        }
        return time
    }

    func optionalTime(_ field: String) throws(ContractViolation) -> Timestamp? {
        has(field) ? try time(field) : nil
    }

    func objects(_ field: String, maximumCount: Int) throws(ContractViolation) -> [JSONObjectReader] {
        guard has(field) else { return [] }
        guard let array = object[field] as? [Any] else { throw invalid(field, "must be a list") }
        guard array.count <= maximumCount else { throw invalid(field, "must have at most \(maximumCount) entries") }
        var readers: [JSONObjectReader] = []
        for (index, element) in array.enumerated() {
            guard let nested = element as? [String: Any] else { throw invalid("\(field)[\(index)]", "must be an object") }
            readers.append(JSONObjectReader(nested: nested, schema: schema, prefix: "\(prefix)\(field)[\(index)]."))
        }
        return readers
    }
}
