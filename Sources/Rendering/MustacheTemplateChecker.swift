import CallTree
import Foundation
import Mustache
import PlanFile

/// Checks a template by parsing it with swift-mustache and rendering it twice against probe
/// values: once with every variable set and every list holding one item, once with every
/// optional value missing, so both the `{{#x}}` and the `{{^x}}` sections are walked. A name
/// that reaches the bottom of the context stack unresolved is not a variable of the template.
struct MustacheTemplateChecker: TemplateChecker {
    func issues(in text: String, template: TemplateID) -> [TemplateIssue] {
        let compiled: MustacheTemplate
        do {
            compiled = try MustacheTemplate(string: Renderer.textPragma + text)
        } catch let error as MustacheTemplate.ParserError {
            var line = error.context.line
            if line.hasPrefix(Renderer.textPragma) { line.removeFirst(Renderer.textPragma.count) }
            if case MustacheTemplate.Error.expectedSectionEnd = error.error, let open = Self.unclosedSection(in: text) {
                return [TemplateIssue(message: "Mustache syntax: section '\(open.name)' is never closed; add {{/\(open.name)}}", near: open.tag)]
            }
            return [
                TemplateIssue(
                    message: "Mustache syntax: \(Self.describe(error.error)) (line \(error.context.lineNumber) of the text)",
                    near: line.trimmingPrefixSpaces, lineInText: error.context.lineNumber)
            ]
        } catch {
            return [TemplateIssue(message: "Mustache syntax: \(error)")]
        }
        let allowed = TemplateVariables.allowed(in: template)
        var unknown: [String] = []
        for filled in [true, false] {
            let root = ProbeRoot(allowed: Set(allowed), filled: filled)
            _ = compiled.render(root)
            for name in root.unknown where !unknown.contains(name) { unknown.append(name) }
        }
        return unknown.map { name in
            let hint = closest(to: name, among: allowed).map { "did you mean '\($0)'? " } ?? ""
            return TemplateIssue(
                message: "unknown variable '\(name)'; \(hint)the variables of \(kind(template)) templates are listed in config/README.md",
                near: Self.tag(naming: name, in: text))
        }
    }

    private func kind(_ template: TemplateID) -> String {
        switch template {
        case .page: "page"
        case .status: "status"
        default: "notice"
        }
    }

    /// The tags of the text, such as `{{#drill}}`, with the name each one names.
    static func tags(in text: String) -> [(tag: String, sigil: Character?, name: String)] {
        var result: [(String, Character?, String)] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            let inside = rest[open.upperBound..<close.lowerBound]
            let sigil = inside.first.flatMap { "#^/&{>!".contains($0) ? $0 : nil }
            let word = inside.drop { "#^/&{>! ".contains($0) }.prefix { !" }".contains($0) }
            result.append((String(rest[open.lowerBound..<close.upperBound]), sigil, String(word)))
            rest = rest[close.upperBound...]
        }
        return result
    }

    /// The first section opened and never closed.
    static func unclosedSection(in text: String) -> (tag: String, name: String)? {
        var stack: [(tag: String, name: String)] = []
        for tag in tags(in: text) {
            switch tag.sigil {
            case "#", "^": stack.append((tag.tag, tag.name))
            case "/": if stack.last?.name == tag.name { stack.removeLast() }
            default: break
            }
        }
        return stack.first
    }

    /// The first tag in the text that names `name`, such as `{{ nmae }}` or `{{#nmae}}`.
    static func tag(naming name: String, in text: String) -> String? {
        tags(in: text).first { $0.name == name || $0.name.hasPrefix(name + ".") }?.tag
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case MustacheTemplate.Error.sectionCloseNameIncorrect: "a section is closed with another name than it was opened with"
        case MustacheTemplate.Error.expectedSectionEnd: "a section is opened but never closed; add {{/name}}"
        case MustacheTemplate.Error.unfinishedName: "a tag is not finished; close it with }}"
        default: "\(error)"
        }
    }
}

/// The root of the probe context: answers every allowed name, records every other.
private final class ProbeRoot: MustacheParent {
    let allowed: Set<String>
    let filled: Bool
    var unknown: [String] = []

    init(allowed: Set<String>, filled: Bool) {
        self.allowed = allowed
        self.filled = filled
    }

    func child(named name: String) -> Any? {
        guard allowed.contains(name) else {
            if !unknown.contains(name) { unknown.append(name) }
            return nil
        }
        if TemplateVariables.flags.contains(name) { return filled }
        if TemplateVariables.lists.contains(name) {
            guard filled else { return [Any]() }
            if name == "departments" {
                let item = Dictionary(uniqueKeysWithValues: TemplateVariables.departmentItem.map { ($0, "x" as Any) })
                return [item]
            }
            return ["x"]
        }
        return filled ? "x" : nil
    }
}

extension String {
    fileprivate var trimmingPrefixSpaces: String { String(drop { $0 == " " }) }
}
