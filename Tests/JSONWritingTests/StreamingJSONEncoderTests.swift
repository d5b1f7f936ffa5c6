import Foundation
import JSONWriting
import Testing

@Suite("Encoding in one pass")
struct StreamingJSONEncoderTests {
    @Test func numbersAndNestingReadBackExactly() throws {
        struct Numbers: Codable, Equatable {
            var signed: [Int64] = [0, 1, -1, 9, 10, -10, 1_795_911_300_123, .max, .min]
            var unsigned: [UInt64] = [0, 7, .max]
            var small: Int8 = -128
            var fraction: Double = 0.1
            var whole: Double = -3
            var nested: [[String: [Int]]] = [["a": [1, 2]], [:], ["": []]]
            var absent: String? = nil
            var present: String? = "\u{00}"
        }
        let data = try StreamingJSONEncoder().encode(Numbers())
        #expect(try JSONDecoder().decode(Numbers.self, from: data) == Numbers())
        #expect(String(decoding: data, as: UTF8.self).contains("-9223372036854775808"))
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode([Double.nan]) }
    }

    private enum Key: String, CodingKey { case a, b, c }

    /// Writing into a container after a sibling closed it would put the member in the wrong
    /// object; the encoder refuses instead.
    @Test func aContainerWrittenToAfterItWasClosedIsRefused() {
        struct ComesBack: Encodable {
            func encode(to encoder: any Encoder) throws {
                var outer = encoder.container(keyedBy: Key.self)
                var first = outer.nestedContainer(keyedBy: Key.self, forKey: .a)
                _ = outer.nestedContainer(keyedBy: Key.self, forKey: .b)
                try first.encode(1, forKey: .c)
            }
        }
        #expect(throws: EncodingError.self) { try StreamingJSONEncoder().encode(ComesBack()) }
    }
}
