import Crypto
import Foundation

/// The token a page carries and its reply must return: HMAC-SHA256 over the page id and the
/// contact id with a secret only the workers know, so a reply can be trusted without trusting
/// the gateway that carried it.
public struct PageTokenSigner: Sendable {
    private let key: SymmetricKey
    /// The HMAC with the key already absorbed: each token copies it instead of hashing the key again.
    private let keyed: HMAC<SHA256>

    public init(secret: some DataProtocol) {
        key = SymmetricKey(data: Data(secret))
        keyed = HMAC<SHA256>(key: key)
    }

    /// Base64url without padding: 43 characters that survive SMS and URL gateways.
    public func token(page: String, contact: String) -> String {
        var hmac = keyed
        hmac.update(data: Self.message(page: page, contact: contact))
        // Base64url (RFC 4648 §5) without padding.
        let base64 = Data(hmac.finalize()).base64EncodedString()
        return String(
            decoding: base64.utf8.compactMap { byte -> UInt8? in
                switch byte {
                case UInt8(ascii: "+"): UInt8(ascii: "-")
                case UInt8(ascii: "/"): UInt8(ascii: "_")
                case UInt8(ascii: "="): nil
                default: byte
                }
            }, as: UTF8.self)
    }

    /// Compares in constant time.
    public func isValid(_ token: String, page: String, contact: String) -> Bool {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let code = Data(base64Encoded: base64) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: Self.message(page: page, contact: contact), using: key)
    }

    private static func message(page: String, contact: String) -> Data {
        // A separator that appears in neither id keeps ("ab", "c") and ("a", "bc") apart.
        Data("\(page)\n\(contact)".utf8)
    }
}
