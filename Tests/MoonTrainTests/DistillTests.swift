import XCTest
import MoonTensor
@testable import MoonTrain

/// Reference numbers from scripts/make_train_references.py (PyTorch, float64; TRL's generalized_jsd_loss formula).
final class DistillTests: XCTestCase {
    func testForwardReverseJSDMatchPyTorch() throws {
        let s = try Ref.student(), t = try Ref.teacher()
        let fwd = try Distill.perToken(student: s, teacher: t, divergence: .forwardKL)
        XCTAssertEqual(fwd.shape, [2, 3])
        assertClose(fwd.toArray(), [1.00847135, 0.610454857, 1.16483235, 0.948026389, 1.76688269, 0.604263796])
        let rev = try Distill.perToken(student: s, teacher: t, divergence: .reverseKL)
        assertClose(rev.toArray(), [1.13329168, 0.494277205, 0.891577099, 0.471089892, 0.93164468, 0.354283831])
        let j = try Distill.perToken(student: s, teacher: t, divergence: .jsd, options: DistillOptions(beta: 0.5))
        assertClose(j.toArray(), [0.231739357, 0.128612007, 0.204971227, 0.138487566, 0.247580503, 0.0960441789])
        let j3 = try Distill.perToken(student: s, teacher: t, divergence: .jsd, options: DistillOptions(temperature: 2, beta: 0.3))
        assertClose(j3.toArray(), [0.0629949212, 0.0316527168, 0.0689586203, 0.0518725624, 0.0908652417, 0.0405772098])
        // TRL's conventions at the ends: beta 0 = forward, beta 1 = reverse
        assertClose(try Distill.perToken(student: s, teacher: t, divergence: .jsd, options: DistillOptions(beta: 0)).toArray(), fwd.toArray())
        assertClose(try Distill.perToken(student: s, teacher: t, divergence: .jsd, options: DistillOptions(beta: 1)).toArray(), rev.toArray())
    }

    func testMaskedReductions() throws {
        let s = try Ref.student(), t = try Ref.teacher(), m = try Ref.mask()
        assertClose(try Distill.forwardKL(student: s, teacher: t, mask: m).item(), 0.792804098)
        assertClose(try Distill.reverseKL(student: s, teacher: t, mask: m).item(), 0.613235651)
        let sum = try Distill.reverseKL(student: s, teacher: t, mask: m, options: DistillOptions(reduction: .sum)).item()
        assertClose(sum, 0.613235651 * 4)
        let none = try Distill.reverseKL(student: s, teacher: t, mask: m, options: DistillOptions(reduction: .none))
        assertClose(none.toArray(), [1.13329168, 0.494277205, 0, 0.471089892, 0, 0.354283831])
        // unmasked mean is the plain mean
        let mean = try Distill.reverseKL(student: s, teacher: t).item()
        assertClose(mean, (1.13329168 + 0.494277205 + 0.891577099 + 0.471089892 + 0.93164468 + 0.354283831) / 6)
        // an all-zero mask gives 0, not NaN
        let z = try Distill.reverseKL(student: s, teacher: t, mask: Tensor.zeros([2, 3])).item()
        XCTAssertEqual(z, 0)
    }

    func testTopK() throws {
        let s = try Ref.student(), t = try Ref.teacher()
        let r = try Distill.perToken(student: s, teacher: t, divergence: .reverseKL, options: DistillOptions(topK: 3))
        assertClose(r.toArray(), [0.519511909, 0.501567805, 0.838691047, 0.472437221, 0.891136204, 0.31923423])
        let f = try Distill.perToken(student: s, teacher: t, divergence: .forwardKL, options: DistillOptions(temperature: 2, topK: 3))
        assertClose(f.toArray(), [0.118630656, 0.140571205, 0.366581061, 0.326233595, 0.448971495, 0.228316344])
        // k = V is the full vocabulary
        let full = try Distill.perToken(student: s, teacher: t, divergence: .reverseKL, options: DistillOptions(topK: 5))
        assertClose(full.toArray(), [1.13329168, 0.494277205, 0.891577099, 0.471089892, 0.93164468, 0.354283831])
    }

    func testGradientsMatchPyTorch() throws {
        let s = try Ref.student(grad: true)
        try Distill.reverseKL(student: s, teacher: Ref.teacher(), mask: Ref.mask()).backward()
        assertClose(s.grad!.toArray(), [-0.066432391, -0.0460623956, 0.123851358, 0.0245688445, -0.0359254158, -0.0523570805, -0.0173544086, 0.00357776496, 0.0275606537, 0.0385730705, 0, 0, 0, 0, 0, -0.0151133848, -0.0084139972, 0.00529699173, 0.0279545941, -0.00972420376, 0, 0, 0, 0, 0, -0.00962113358, -0.00436996384, 0.032998828, 0.035747665, -0.0547553956], atol: 1e-6)
        let s2 = try Ref.student(grad: true)
        try Distill.jsd(student: s2, teacher: Ref.teacher(), beta: 0.5, mask: Ref.mask()).backward()
        assertClose(s2.grad!.toArray(), [-0.0164869395, -0.000583421493, 0.0181077854, 0.00720563793, -0.00824306234, -0.0153946662, -0.00434976069, 0.00118304762, 0.00572664409, 0.0128347352, 0, 0, 0, 0, 0, -0.00555090621, -0.00234112234, 0.0011701484, 0.00564042582, 0.00108145434, 0, 0, 0, 0, 0, -0.00354744962, -0.000848494572, 0.00571464246, 0.00876967437, -0.0100883726], atol: 1e-6)
    }

    func testGradientsAgainstFiniteDifferences() throws {
        let t = try Ref.teacher(), m = try Ref.mask()
        for div in DistillDivergence.allCases {
            for opts in [DistillOptions(), DistillOptions(temperature: 2, beta: 0.3), DistillOptions(topK: 3, beta: 0.7)] {
                try gradCheck(Ref.studentData, shape: [2, 3, 5], "\(div) \(opts)") { s in
                    try Distill.loss(student: s, teacher: t, divergence: div, mask: m, options: opts)
                }
            }
        }
        // the teacher gets no gradient even if it asks for one
        let tg = try Ref.teacher().setRequiresGrad()
        try Distill.forwardKL(student: Ref.student(grad: true), teacher: tg).backward()
        XCTAssertNil(tg.grad)
    }

    func testKLIsZeroForIdenticalDistributions() throws {
        let s = try Ref.student()
        for div in DistillDivergence.allCases {
            let v = try Distill.perToken(student: s, teacher: s, divergence: div).toArray()
            assertClose(v, [Float](repeating: 0, count: 6), atol: 1e-6)
        }
    }

    func testHandComputedKL() throws {
        // p = softmax([0, log 3]) = [1/4, 3/4], q = softmax([0, 0]) = [1/2, 1/2]
        let teacher = try Tensor([0, Float(log(3.0))], shape: [1, 2]), student = try Tensor([0, 0], shape: [1, 2])
        let fwd = 0.25 * log(0.25 / 0.5) + 0.75 * log(0.75 / 0.5)
        let rev = 0.5 * log(0.5 / 0.25) + 0.5 * log(0.5 / 0.75)
        assertClose(try Distill.perToken(student: student, teacher: teacher, divergence: .forwardKL).toArray(), [Float(fwd)])
        assertClose(try Distill.perToken(student: student, teacher: teacher, divergence: .reverseKL).toArray(), [Float(rev)])
        // -inf teacher logits (masked vocabulary) give a finite forward KL
        let tm = try Tensor([0, -Float.infinity], shape: [1, 2])
        assertClose(try Distill.perToken(student: student, teacher: tm, divergence: .forwardKL).toArray(), [Float(log(2.0))])
        for div in [DistillDivergence.forwardKL, .jsd] {
            let sg = try Tensor([0.3, -0.2], shape: [1, 2]).setRequiresGrad()
            let v = try Distill.loss(student: sg, teacher: tm, divergence: div)
            XCTAssertTrue(try v.item().isFinite, "\(div)")
            try v.backward()
            XCTAssertTrue(sg.grad!.toArray().allSatisfy { $0.isFinite }, "\(div) gradient \(sg.grad!.toArray())")
        }
    }

    func testBadInputsThrow() throws {
        let s = try Ref.student(), t = try Ref.teacher()
        assertThrowsMessage(try Distill.forwardKL(student: s, teacher: Tensor.zeros([2, 3, 4])), contains: "'teacher'")
        assertThrowsMessage(try Distill.forwardKL(student: s, teacher: t, mask: Tensor.zeros([2])), contains: "'mask'")
        assertThrowsMessage(try Distill.forwardKL(student: s, teacher: t, options: DistillOptions(temperature: 0)), contains: "'temperature'")
        assertThrowsMessage(try Distill.forwardKL(student: s, teacher: t, options: DistillOptions(topK: 9)), contains: "'top_k'")
        assertThrowsMessage(try Distill.jsd(student: s, teacher: t, beta: 1.5), contains: "'beta'")
    }

    func testSFTCrossEntropy() throws {
        let targets = try Tensor(ints: [0, 3, 1, 4, 2, 2], shape: [2, 3])
        let per = try SFT.perTokenNLL(logits: Ref.student(), targets: targets)
        assertClose(per.toArray(), [2.37432787, 1.82774256, 0.901333478, 0.398282374, 2.4938686, 2.05377128])
        assertClose(try SFT.loss(logits: Ref.student(), targets: targets, mask: Ref.mask()).item(), 1.66353102)
        // ignore index: masking position (0,2) and (1,1) by -100 equals the mask
        let ign = try Tensor(ints: [0, 3, -100, 4, -100, 2], shape: [2, 3])
        assertClose(try SFT.loss(logits: Ref.student(), targets: ign).item(), 1.66353102)
        // the log-prob form
        let lp = try tokenLogProbs(logits: Ref.student(), tokens: targets)
        assertClose(try SFT.loss(tokenLogProbs: lp, mask: Ref.mask()).item(), 1.66353102)
        try gradCheck(Ref.studentData, shape: [2, 3, 5], "sft") { x in try SFT.loss(logits: x, targets: targets, mask: Ref.mask()) }
        assertThrowsMessage(try SFT.loss(logits: Ref.student(), targets: Tensor(ints: [0, 9, 1, 0, 0, 0], shape: [2, 3])), contains: "out of range")
        assertThrowsMessage(try SFT.loss(logits: Ref.student(), targets: Tensor(ints: [0, 1], shape: [2])), contains: "'targets'")
    }

    func testTokenEntropy() throws {
        let e = try tokenEntropy(logits: Tensor([0, 0, 0, 0], shape: [1, 4])).toArray()
        assertClose(e, [Float(log(4.0))])
        try gradCheck(Ref.studentData, shape: [2, 3, 5], "entropy") { x in try tokenEntropy(logits: x).mean() }
    }
}
