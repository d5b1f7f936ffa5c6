/// Durations as plan owners write them: `90s`, `5m`, `1h30m`, `2h`.
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
        var seconds: Int64 = 0
        var lastUnit = Int64.max
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let number = Int64(digits) else { return .failure(.notADuration) }
            rest = rest.dropFirst(digits.count)
            let unit: Int64
            switch rest.first {
            case "h": unit = 3600
            case "m": unit = 60
            case "s": unit = 1
            default: return .failure(.notADuration)
            }
            // Units largest first, each once: `1h30m`, never `30m1h`.
            guard unit < lastUnit else { return .failure(.notADuration) }
            lastUnit = unit
            rest = rest.dropFirst()
            seconds += number * unit
        }
        guard !negative, seconds > 0 else { return .failure(.notPositive) }
        return .success(.seconds(seconds))
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

