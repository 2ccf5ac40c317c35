import Dispatch
import Foundation
import MTZCore
import MTZRuntime
import MTZTestSupport
import Testing

/// One loaded model, many sessions on many threads.
@Suite struct ConcurrencyTests {
    @Test("concurrent sessions on one model agree with a single run")
    func concurrentSessions() throws {
        let model = RandomModels.zippedTwoTask(seed: 8)
        let loaded = try InferenceModel(model)
        let inputs = (0..<8).map { seededFloats(count: loaded.inputCount, seed: UInt64($0), range: -1...1) }
        let single = try loaded.makeSession()
        let expected = try inputs.map { try single.run(input: $0) }

        final class Box: @unchecked Sendable {
            var results = [[String: [Float]]?](repeating: nil, count: 32)
            var failures: [String] = []
            let lock = DispatchSemaphore(value: 1)
        }
        let box = Box()
        DispatchQueue.concurrentPerform(iterations: 32) { job in
            do {
                let session = try loaded.makeSession(threads: 1 + job % 2)
                var last: [String: [Float]] = [:]
                for _ in 0..<5 { last = try session.run(input: inputs[job % inputs.count]) }
                box.lock.wait()
                box.results[job] = last
                box.lock.signal()
            } catch {
                box.lock.wait()
                box.failures.append(String(describing: error))
                box.lock.signal()
            }
        }
        #expect(box.failures.isEmpty)
        for job in 0..<32 {
            #expect(box.results[job] == expected[job % inputs.count], "session \(job) disagrees with the single run")
        }
    }

    /// `concurrentPerform` runs only as many jobs at a time as there are cores (two on a small CI
    /// machine). Here 16 dedicated threads wait at a gate and start together, each creating its own
    /// session of one shared model (half of them with intra-op threads) and running it on its own
    /// inputs, so that sessions really overlap, also under ThreadSanitizer.
    @Test("16 threads released together share one model, each with its own session")
    func threadsReleasedTogether() throws {
        let loaded = try InferenceModel(RandomModels.everyOp(seed: 3))
        let inputs = (0..<4).map { seededFloats(count: loaded.inputCount, seed: 100 + UInt64($0), range: -1...1) }
        let single = try loaded.makeSession()
        let expected = try inputs.map { try single.run(input: $0) }

        final class Shared: @unchecked Sendable {
            let gate = DispatchSemaphore(value: 0)
            let done = DispatchGroup()
            let lock = NSLock()
            var mismatches: [String] = []
            func note(_ text: String) { lock.lock(); mismatches.append(text); lock.unlock() }
        }
        let shared = Shared()
        let threadCount = 16
        for t in 0..<threadCount {
            shared.done.enter()
            let thread = Thread {
                defer { shared.done.leave() }
                shared.gate.wait()
                do {
                    let session = try loaded.makeSession(threads: 1 + t % 2)
                    for run in 0..<6 {
                        let k = (t + run) % inputs.count
                        if try session.run(input: inputs[k]) != expected[k] { shared.note("thread \(t), run \(run)") }
                    }
                } catch {
                    shared.note("thread \(t): \(error)")
                }
            }
            thread.start()
        }
        for _ in 0..<threadCount { shared.gate.signal() }
        shared.done.wait()
        #expect(shared.mismatches.isEmpty, "\(shared.mismatches)")
    }
}
