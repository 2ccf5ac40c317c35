import ArgumentParser
import MTZCore
import MTZRuntime

/// `mtz prepack`: store convolution weights already packed for the kernels, so loading maps them.
struct PrepackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepack",
        abstract: "Store the convolution weights packed for the kernels of some ISAs, so that loading maps them instead of packing.",
        discussion: """
            Loading a model packs every convolution's weights into the layout of its kernels (GEMM \
            panels, Winograd-transformed tiles), which costs time and memory of its own. This writes a \
            copy of MODEL with an optional PACK section holding those packed weights for each ISA \
            asked for; a load on a CPU of one of those ISAs, with the same convolution policy, maps them \
            from the file like the other weights. The network is unchanged and so are its results (bit \
            for bit on the architecture that packed them; the Winograd weight transform of another ISA \
            family may round a last bit differently); other \
            ISAs (and readers that do not know the section) pack at load as before. A variant is used \
            only for weights whose CRC-32 matches it, so a model changed afterwards (mtz train, mtz zip) \
            never runs stale packs; those commands write files without the section.
            """
    )

    @Argument(help: "The .mtz model.")
    var model: String

    @Option(name: [.short, .customLong("output")], help: "Where to write the model with packed weights (may be MODEL itself; written atomically).")
    var output: String

    @Option(name: .long, help: "ISAs to pack for, comma-separated (scalar, avx2, avx512, neon), or 'all'. (default: the ISA this CPU runs)")
    var isa: String?

    @Option(name: .long, help: "Convolution algorithms the packs are for, as `mtz bench --convolutions`: automatic, gemm-only, winograd.")
    var convolutions: String = ConvolutionPolicy.automatic.rawValue

    func validate() throws {
        _ = try isas()
        guard ConvolutionPolicy(rawValue: convolutions) != nil else {
            throw ValidationError("unknown --convolutions '\(convolutions)' (automatic, gemm-only, winograd)")
        }
    }

    private func isas() throws -> [KernelISA] {
        guard let isa else { return [.selected] }
        if isa == "all" { return KernelISA.allCases }
        var list: [KernelISA] = []
        for name in isa.split(separator: ",", omittingEmptySubsequences: false) {
            guard let i = KernelISA(rawValue: String(name)) else {
                throw ValidationError("unknown ISA '\(name)' in --isa (scalar, avx2, avx512, neon or all)")
            }
            if !list.contains(i) { list.append(i) }
        }
        return list
    }

    func run() throws {
        let loaded: Model
        do { loaded = try ModelFile.read(contentsOf: model) } catch { throw report(error, context: model) }
        do {
            let targets = try isas()
            let variants = try Prepacking.variants(for: loaded, isas: targets, convolutions: ConvolutionPolicy(rawValue: convolutions)!)
            try ModelFile.write(loaded, packedWeights: variants, to: output)
            let bytes = variants.reduce(0) { $0 + 4 * $1.values.count }
            let isaNames = targets.map(\.rawValue).joined(separator: ", ")
            print("wrote \(output): \(variants.count) packed convolution weights for \(isaNames), \(grouped(bytes)) bytes")
        } catch {
            throw report(error)
        }
    }
}
