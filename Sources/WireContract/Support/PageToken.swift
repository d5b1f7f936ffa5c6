import Crypto
import Foundation

/// The token a page carries and its reply must return: HMAC-SHA256 over the page id and the
/// contact id with a secret only the workers know, so a reply can be trusted without trusting
/// the gateway that carried it.
public struct PageTokenSigner: Sendable {
    private let key: SymmetricKey

    public init(secret: some DataProtocol) {
        key = SymmetricKey(data: Data(secret))
    }

    /// Base64url without padding: 43 characters that survive SMS and URL gateways.
    public func token(page: String, contact: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Self.message(page: page, contact: contact), using: key)
        return Data(code).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
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
