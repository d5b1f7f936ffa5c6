/// Durations as plan owners and ops write them: `90s`, `5m`, `1h30m`, `2h`, `1d`, `500ms`.
public enum DurationText {
    public enum Failure: Error, Equatable {
        case notADuration
        case notPositive
    }

    /// Parses a duration; a bare number, an unknown unit or a duration of zero or less fails.
    public static func parse(_ text: String) -> Result<Duration, Failure> {
        var rest = Substring(text.trimmingCharacters(in: " "))
        var negative = false
        if rest.first == "-" {
            negative = true
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return .failure(.notADuration) }
        var milliseconds: Int64 = 0
        var lastUnit = Int64.max
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let number = Int64(digits) else { return .failure(.notADuration) }
            rest = rest.dropFirst(digits.count)
            let unit: Int64
            if rest.hasPrefix("ms") {
                unit = 1
                rest = rest.dropFirst()
            } else {
                switch rest.first {
                case "d": unit = 86_400_000
                case "h": unit = 3_600_000
                case "m": unit = 60_000
                case "s": unit = 1000
                default: return .failure(.notADuration)
                }
            }
            // Units largest first, each once: `1h30m`, never `30m1h`.
            guard unit < lastUnit else { return .failure(.notADuration) }
            lastUnit = unit
            rest = rest.dropFirst()
            milliseconds += number * unit
        }
        guard !negative, milliseconds > 0 else { return .failure(.notPositive) }
        return .success(.milliseconds(milliseconds))
    }

    /// The shortest written form: `5m`, `1h30m`, `90s` becomes `1m30s`.
    public static func format(_ duration: Duration) -> String {
        let total = duration.components.seconds
        if total == 0 { return "0s" }
        let sign = total < 0 ? "-" : ""
        var seconds = abs(total)
        var text = sign
        if seconds >= 3600 {
            text += "\(seconds / 3600)h"
            seconds %= 3600
        }
        if seconds >= 60 {
            text += "\(seconds / 60)m"
            seconds %= 60
        }
        if seconds > 0 { text += "\(seconds)s" }
        return text
    }
}

