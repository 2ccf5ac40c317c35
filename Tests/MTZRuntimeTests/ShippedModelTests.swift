import Foundation
import MTZCore
import MTZRuntime
import MTZTestSupport
import Testing

/// The models shipped in `Models/` are what their builders make, and they run.
@Suite struct ShippedModelTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let demoPath = root.appendingPathComponent("Models/demo-untrained.mtz").path

    /// `MTZ_WRITE_DEMO_MODEL=1 swift test --filter ShippedModelTests` rewrites the file.
    @Test("Models/demo-untrained.mtz is exactly DemoModel.make(), encoded")
    func demoModelIsReproducible() throws {
        let model = DemoModel.make()
        if ProcessInfo.processInfo.environment["MTZ_WRITE_DEMO_MODEL"] == "1" {
            try ModelFile.write(model, to: Self.demoPath)
        }
        let shipped = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.demoPath)))
        #expect(shipped == (try ModelFile.encode(model)), "regenerate with MTZ_WRITE_DEMO_MODEL=1")
    }

    @Test("the shipped demo model loads from its file and matches the reference interpreter")
    func demoModelRuns() throws {
        let loaded = try InferenceModel(contentsOf: Self.demoPath)
        let x = seededFloats(count: loaded.inputCount, seed: 3, range: -2...2)
        let got = try loaded.makeSession().run(input: x)
        let expected = try ReferenceInterpreter.outputs(DemoModel.make(), input: x)
        for t in loaded.taskNames {
            #expect(maxRelativeError(got[t]!, expected[t]!, absFloor: 1e-2).error <= 1e-4)
        }
    }
}
