import Dispatch
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
}
