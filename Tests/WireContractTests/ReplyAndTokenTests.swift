import CallTree
import Foundation
import Testing
import WireContract

@Suite("reply.v1 and page tokens")
struct ReplyAndTokenTests {
    let signer = PageTokenSigner(secret: Array("a secret only workers know".utf8))

    func replyBytes(pageID: String = "page:inc-1:operations:1:2:lee", action: String = "ack") -> [UInt8] {
        Array(
            try! JSONSerialization.data(withJSONObject: [
                "schema": "reply.v1", "reply_id": "r-1", "page_id": pageID, "contact_id": "lee",
                "token": "t", "action": action, "sent_at": "2026-11-29T08:20:00Z", "note": "on my way",
            ]))
    }

    @Test func aReplyNamesThePageItAnswers() throws {
        let reply = try ReplyMessage(bytes: replyBytes()).reply
        #expect(reply.page == PageID(incident: "inc-1", department: "operations", position: StepPosition(round: 1, step: 2), contact: "lee"))
        #expect(reply.action == .ack && reply.note == "on my way")
    }

    @Test func aReplyForSomethingThatIsNotAPageIsRefused() {
        #expect(throws: ContractViolation(.invalidField, "field 'page_id' is not a page id sent by Escalator: \"12345\"; reply with the page's page_id")) {
            try ReplyMessage(bytes: replyBytes(pageID: "12345"))
        }
    }

    @Test func anUnknownReplyActionIsRefused() {
        #expect(throws: ContractViolation(.invalidField, "field 'action' must be ack, escalate or resolve, found \"snooze\"")) {
            try ReplyMessage(bytes: replyBytes(action: "snooze"))
        }
    }

    @Test func aTokenIsValidOnlyForItsPageAndContact() {
        let token = signer.token(page: "page:inc-1:operations:1:2:lee", contact: "lee")
        #expect(token.count == 43)
        #expect(signer.isValid(token, page: "page:inc-1:operations:1:2:lee", contact: "lee"))
        #expect(!signer.isValid(token, page: "page:inc-1:operations:1:2:lee", contact: "wong"))
        #expect(!signer.isValid(token, page: "page:inc-1:operations:1:1:lee", contact: "lee"))
        #expect(!signer.isValid(token, page: "page:inc-1:operations:1:2:lee", contact: "lee\n"))
        #expect(!PageTokenSigner(secret: Array("another secret".utf8)).isValid(token, page: "page:inc-1:operations:1:2:lee", contact: "lee"))
        #expect(!signer.isValid("not base64 at all!", page: "page:inc-1:operations:1:2:lee", contact: "lee"))
    }

    @Test("A token is HMAC-SHA256 over page id, newline, contact id, in base64url without padding (what gateways verify)")
    func theTokenIsTheDocumentedHMAC() {
        // Computed independently: base64url(HMAC-SHA256(secret, "page:inc-1:operations:1:2:lee\nlee")).
        #expect(signer.token(page: "page:inc-1:operations:1:2:lee", contact: "lee") == "NzmrzI1jxUfLFH8vwhVFOC7iUufHLqvPVLEnpGI64NI")
    }

    @Test func theSameTokenIsIssuedEveryTime() {
        #expect(signer.token(page: "p", contact: "c") == signer.token(page: "p", contact: "c"))
    }
}
