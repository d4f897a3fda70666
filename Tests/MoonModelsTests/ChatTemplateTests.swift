import Foundation
import XCTest
@testable import MoonModels

/// Chat templates rendered as transformers' apply_chat_template renders them (fixture: make_tokenizer_fixtures.py).
final class ChatTemplateTests: XCTestCase {
    func cases(_ name: String) -> (template: String, bos: String, cases: [(messages: [ChatMessage], gen: Bool, text: String)]) {
        let chat = (BPETokenizerTests.fixture.expected["chat"] as! [String: Any])[name] as! [String: Any]
        let cases = (chat["cases"] as! [[String: Any]]).map { c -> ([ChatMessage], Bool, String) in
            let msgs = (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
            return (msgs, c["add_generation_prompt"] as! Bool, c["text"] as! String)
        }
        return (chat["template"] as! String, chat["bos_token"] as! String, cases)
    }

    func testSmolLM2ChatML() throws {
        let c = cases("smollm2")
        let format = try XCTUnwrap(ChatTemplate(template: c.template))
        XCTAssertEqual(format, .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        XCTAssertGreaterThanOrEqual(c.cases.count, 8)
        for x in c.cases {
            XCTAssertEqual(try format.render(x.messages, addGenerationPrompt: x.gen, bosToken: c.bos), x.text)
        }
    }

    func testLlama3() throws {
        let c = cases("llama3")
        let format = try XCTUnwrap(ChatTemplate(template: c.template))
        XCTAssertEqual(format, .llama3)
        for x in c.cases {
            XCTAssertEqual(try format.render(x.messages, addGenerationPrompt: x.gen, bosToken: c.bos), x.text)
        }
    }

    func testUnrecognisedAndEmpty() throws {
        XCTAssertNil(ChatTemplate(template: "{% for m in messages %}{{ m['content'] }}{% endfor %}"))
        XCTAssertNil(ChatTemplate(template: "<|im_start|>{{ reasoning_content }}<think><|im_end|>"))
        XCTAssertEqual(ChatTemplate(template: "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"),
                       .chatML(defaultSystem: nil))
        XCTAssertThrowsError(try ChatTemplate.llama3.render([], addGenerationPrompt: true, bosToken: nil))
        XCTAssertEqual(ChatTemplate.pythonStrip(" \u{1C}\t x y \n\u{3000}"), "x y")
        let bytes = ByteTokenizer()
        XCTAssertThrowsError(try bytes.applyChatTemplate([ChatMessage(role: "user", content: "hi")], addGenerationPrompt: true))
    }
}
