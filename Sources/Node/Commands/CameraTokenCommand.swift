import API
import ArgumentParser
import Core
import Crypto
import Foundation
import NodeServices
import Replication
import Storage

/// `sma-node camera-token`: acts as a camera. Reads a provisioning file and prints a `/validate` body.
struct CameraTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera-token",
        abstract: "Simulate a camera: make a camera token from a provisioning file and print the /validate request body.")

    @Option(name: .customLong("provisioning-file"), help: "The JSON answer of /api/v1/devices/provision ('-' for stdin).")
    var provisioningFile: String
    @Option(name: .customLong("table-slot"), help: "Which of the device's 3 tables to use (0-2).") var tableSlot: Int = 0
    @Option(name: .customLong("key-index"), help: "Key index 0-999 (random if absent).") var keyIndex: Int?
    @Option(name: .customLong("batch"), help: "Print a /v1/validate/batch body of this many fresh tokens (1-1000; distinct images, as a camera makes them) instead.")
    var batch: Int?

    func validate() throws {
        guard (0..<3).contains(tableSlot) else { throw ValidationError("--table-slot must be 0, 1 or 2") }
        if let k = keyIndex, !(0..<BirthmarkProtocol.keysPerTable).contains(k) { throw ValidationError("--key-index must be 0-999") }
        if let b = batch, !(1...1000).contains(b) { throw ValidationError("--batch must be 1-1000") }
    }

    func run() async throws {
        let data: Data
        if provisioningFile == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: provisioningFile) else {
                throw ValidationError("cannot read \(provisioningFile)")
            }
            data = d
        }
        guard let file = try? JSONDecoder().decode(ProvisionResponse.self, from: data) else {
            throw ValidationError("\(provisioningFile) is not a provisioning file (the JSON answer of /api/v1/devices/provision)")
        }
        let table = file.table_assignments[tableSlot]
        guard let masterHex = file.master_keys[String(table)], let master = Bytes32(hex: masterHex),
              let nuc = Hex.decode(file.nuc_hash), nuc.count == 32 else {
            throw ValidationError("the provisioning file lacks the master key or NUC hash for table \(table)")
        }
        // Each token is a new image: a fresh random nonce (a replayed token counts once for abuse detection).
        func token() throws -> ValidationRequest.Token {
            let index = keyIndex ?? Int.random(in: 0..<BirthmarkProtocol.keysPerTable)
            let box = try AES.GCM.seal(nuc, using: KeyDerivation.derivedKey(masterKey: master, keyIndex: index))
            return .init(ciphertext: Hex.encode(box.ciphertext), auth_tag: Hex.encode(box.tag), nonce: Hex.encode(Array(box.nonce)),
                         table_id: table, key_index: index)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let batch {
            struct Batch: Encodable { var tokens: [ValidationRequest.Token] }
            print(String(decoding: try encoder.encode(Batch(tokens: try (0..<batch).map { _ in try token() })), as: UTF8.self))
            return
        }
        let request = ValidationRequest(camera_token: try token(), manufacturer_authority_id: "SIMULATED_MFG")
        print(String(decoding: try encoder.encode(request), as: UTF8.self))
    }
}
