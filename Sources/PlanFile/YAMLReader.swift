import Foundation
import Yams

/// Walks a composed YAML tree and collects problems instead of stopping at the first one.
final class YAMLReader {
    let file: String
    let sourceLines: [Substring]
    private(set) var problems: [PlanProblem] = []

    init(file: String, source: String) {
        self.file = file
        sourceLines = source.split(separator: "\n", omittingEmptySubsequences: false)
    }

    func report(_ mark: Mark?, _ message: String) {
        problems.append(PlanProblem(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1, message: message))
    }

    func report(line: Int, column: Int, _ message: String) {
        problems.append(PlanProblem(file: file, line: line, column: column, message: message))
    }

    // MARK: Mappings

    struct Entry {
        let key: String
        let keyMark: Mark?
        let value: Node
    }

    /// A mapping's entries in file order, merge keys (`<<: *anchor`) applied. Reports a value
    /// that is not a mapping, duplicate keys and, when `allowed` is given, unknown keys.
    func entries(_ node: Node, in what: String, allowed: [String]? = nil, allowExtensions: Bool = false) -> [Entry]? {
        guard case .mapping(let mapping) = node else {
            report(node.mark, "\(what) must be a mapping of `key: value` lines, found \(describe(node))")
            return nil
        }
        var own: [Entry] = []
        var merged: [Entry] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report(keyNode.mark, "a key in \(what) must be a plain word, found \(describe(keyNode))")
                continue
            }
            if scalar.string == "<<", scalar.style == .plain {
                merged.append(contentsOf: mergeSources(value, in: what))
                continue
            }
            own.append(Entry(key: scalar.string, keyMark: keyNode.mark, value: value))
        }
        var seen: [String: Entry] = [:]
        var result: [Entry] = []
        for entry in own {
            if let first = seen[entry.key] {
                let line = first.keyMark.map { " (the first is on line \($0.line))" } ?? ""
                report(entry.keyMark, "duplicate key '\(entry.key)' in \(what)\(line); remove or rename one of them")
                continue
            }
            seen[entry.key] = entry
            result.append(entry)
        }
        // Keys written in the mapping itself override merged ones, as YAML merge keys do.
        for entry in merged where seen[entry.key] == nil {
            seen[entry.key] = entry
            result.append(entry)
        }
        if let allowed {
            for entry in result where !allowed.contains(entry.key) {
                if allowExtensions, entry.key.hasPrefix("x-") { continue }
                report(entry.keyMark, unknownKeyMessage(entry.key, in: what, allowed: allowed))
            }
            return result.filter { allowed.contains($0.key) }
        }
        return result
    }

    /// Like `entries`, keyed by key.
    func fields(_ node: Node, in what: String, allowed: [String]) -> [String: Entry]? {
        entries(node, in: what, allowed: allowed).map { entries in
            Dictionary(entries.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    private func mergeSources(_ node: Node, in what: String) -> [Entry] {
        switch node {
        case .mapping:
            return entries(node, in: what) ?? []
        case .sequence(let sequence):
            // Earlier sources win over later ones.
            var result: [Entry] = []
            for source in sequence {
                for entry in entries(source, in: what) ?? [] where !result.contains(where: { $0.key == entry.key }) {
                    result.append(entry)
                }
            }
            return result
        default:
            report(node.mark, "`<<` in \(what) must name a mapping anchor, such as `<<: *standard-order`")
            return []
        }
    }

    func unknownKeyMessage(_ key: String, in what: String, allowed: [String]) -> String {
        if let suggestion = closest(to: key, among: allowed) {
            return "unknown key '\(key)' in \(what); did you mean '\(suggestion)'?"
        }
        return "unknown key '\(key)' in \(what); allowed keys: \(allowed.joined(separator: ", "))"
    }

    // MARK: Scalars

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    func string(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            report(node.mark, "\(what) must be a text, found \(describe(node))")
            return nil
        }
        return scalar.string
    }

    func nonEmptyString(_ node: Node, _ what: String) -> String? {
        guard let text = string(node, what) else { return nil }
        if text.trimmingCharacters(in: " ").isEmpty {
            report(node.mark, "\(what) is empty; write it out")
            return nil
        }
        return text
    }

    func bool(_ node: Node, _ what: String) -> Bool? {
        if case .scalar(let scalar) = node, scalar.style == .plain {
            switch scalar.string {
            case "true", "True", "TRUE", "yes", "Yes": return true
            case "false", "False", "FALSE", "no", "No": return false
            default: break
            }
        }
        report(node.mark, "\(what) must be true or false, found \(describe(node))")
        return nil
    }

    func positiveInt(_ node: Node, _ what: String) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain, let number = Int(scalar.string) else {
            report(node.mark, "\(what) must be a whole number, found \(describe(node))")
            return nil
        }
        guard number >= 1 else {
            report(node.mark, "\(what) must be at least 1, found \(number)")
            return nil
        }
        return number
    }

    func duration(_ node: Node, _ what: String) -> Duration? {
        guard case .scalar(let scalar) = node, !isNull(node) else {
            report(node.mark, "\(what) must be a duration such as 90s, 5m or 1h30m, found \(describe(node))")
            return nil
        }
        switch DurationText.parse(scalar.string) {
        case .success(let duration):
            return duration
        case .failure(.notPositive):
            report(node.mark, "\(what) must be longer than zero, found '\(scalar.string)'; write a duration such as 5m")
        case .failure(.notADuration):
            let digits = scalar.string.prefix { $0.isNumber }
            let unit = scalar.string.dropFirst(digits.count).drop { $0 == " " }.lowercased().first
            let hint =
                if Int(scalar.string) != nil { "; add a unit, such as \(scalar.string)m" }
                else if !digits.isEmpty, let unit, "hms".contains(unit) { "; write it as \(digits)\(unit)" }
                else { "" }
            report(node.mark, "\(what) must be a duration such as 90s, 5m or 1h30m, found '\(scalar.string)'\(hint)")
        }
        return nil
    }

    /// A list; a single scalar is taken as a list of one when `single` allows it.
    func list(_ node: Node, _ what: String, allowSingle: Bool = false) -> [Node]? {
        switch node {
        case .sequence(let sequence):
            return Array(sequence)
        case .scalar where allowSingle && !isNull(node):
            return [node]
        default:
            report(node.mark, "\(what) must be a list, such as [a, b], found \(describe(node))")
            return nil
        }
    }

    /// A plan id: lower-case letters, digits and dashes, starting with a letter or digit.
    func isValidID(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, Self.idStart(first) else { return false }
        return text.unicodeScalars.allSatisfy { Self.idStart($0) || $0 == "-" }
    }

    private static func idStart(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    func checkID(_ text: String, _ mark: Mark?, _ what: String) -> Bool {
        guard isValidID(text) else {
            let suggestion = text.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "-" }.joined()
            report(
                mark,
                "\(what) id '\(text)' must use only a-z, 0-9 and '-' and start with a letter or digit, such as '\(suggestion)'"
            )
            return false
        }
        return true
    }

    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if isNull(node) { return "nothing" }
            return "'\(scalar.string.count > 40 ? String(scalar.string.prefix(40)) + "…" : scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    // MARK: Positions in the source

    /// Where `piece` first appears at or after `mark` in the file, for pointing inside a
    /// multi-line text.
    func position(of piece: String, from mark: Mark?, lineInText: Int? = nil) -> (line: Int, column: Int) {
        let startLine = mark?.line ?? 1
        let startIndex = startLine - 1
        if let lineInText, case let target = startIndex + lineInText, target < sourceLines.count {
            // A block text (`|`) starts on the line after its indicator.
            if piece.isEmpty { return (target + 1, 1) }
        }
        guard !piece.isEmpty else { return (startLine, mark?.column ?? 1) }
        for index in startIndex..<min(sourceLines.count, startIndex + 400) {
            let line = String(sourceLines[index])
            guard let range = line.range(of: piece) else { continue }
            let column = line[..<range.lowerBound].unicodeScalars.count + 1
            return (index + 1, column)
        }
        return (startLine, mark?.column ?? 1)
    }
}

/// The candidate nearest to a mistyped word, when it is near enough to be a typo: the
/// "did you mean" of every problem message.
public func closest(to word: String, among candidates: some Sequence<String>) -> String? {
    var best: (String, Int)?
    for candidate in candidates {
        let distance = editDistance(word.lowercased(), candidate.lowercased())
        if distance <= max(2, candidate.count / 3), distance < (best?.1 ?? .max) {
            best = (candidate, distance)
        }
    }
    return best?.0
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

extension String {
    func trimmingCharacters(in character: Character) -> String {
        var slice = Substring(self)
        while slice.first == character { slice = slice.dropFirst() }
        while slice.last == character { slice = slice.dropLast() }
        return String(slice)
    }
}
