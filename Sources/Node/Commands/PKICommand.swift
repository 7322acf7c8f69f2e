import API
import ArgumentParser
import Core
import Crypto
import Foundation
import NodeServices
import Replication
import Storage
import SwiftASN1
import X509

/// `sma-node pki`: the cluster CA and node certificates for the mutual-TLS peer channel.
struct PKICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pki", abstract: "Cluster PKI for the peer channel (mutual TLS).",
                                                    subcommands: [CA.self, Node.self])

    struct CA: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create the cluster CA: DIR/ca.pem and DIR/ca.key (0600).")
        @Option(help: "Directory to write to.") var out: String
        @Option(help: "CA name.") var name: String = "SMA cluster CA"

        func run() async throws {
            let ca = try ClusterPKI.makeCA(name: name, now: Date())
            try writeSecret(ca.key.pemRepresentation, to: "\(out)/ca.key", refuseExisting: true)
            try writePublic(ca.certificate.serializeAsPEM().pemString + "\n", to: "\(out)/ca.pem")
            print("wrote \(out)/ca.pem and \(out)/ca.key")
        }
    }

    struct Node: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Issue a node certificate: DIR/node.pem and DIR/node.key (0600).")
        @Option(name: .customLong("ca-dir"), help: "Directory holding ca.pem and ca.key.") var caDir: String
        @Option(help: "Node id (the certificate's CN; peers learn who is calling from it).") var id: String
        @Option(help: "Role the cluster grants the node (the certificate's OU): leader-eligible or follower. Only a leader-eligible certificate can lead, have writes forwarded to it, or vouch for a forwarded client's address.")
        var role: String
        @Option(help: "Host name or IPv4 address the node's peer port is reached at (repeatable; name only the node's own addresses).")
        var host: [String] = []
        @Option(help: "Directory to write to.") var out: String

        func validate() throws {
            guard NodeRole(rawValue: role) != nil else {
                throw ValidationError("--role must be leader-eligible or follower (got \(role))")
            }
            guard !host.isEmpty else { throw ValidationError("--host is required: the address (or name) the node's peer port is reached at") }
        }

        func run() async throws {
            guard let caPEM = FileManager.default.contents(atPath: "\(caDir)/ca.pem"),
                  let caKeyPEM = FileManager.default.contents(atPath: "\(caDir)/ca.key") else {
                throw ValidationError("cannot read \(caDir)/ca.pem and \(caDir)/ca.key")
            }
            let ca = try Certificate(pemEncoded: String(decoding: caPEM, as: UTF8.self))
            let caKey = try P256.Signing.PrivateKey(pemRepresentation: String(decoding: caKeyPEM, as: UTF8.self))
            let issued = try ClusterPKI.issueNodeCertificate(nodeID: id, role: NodeRole(rawValue: role)!, hosts: host, ca: ca, caKey: caKey, now: Date())
            try writeSecret(issued.key.pemRepresentation, to: "\(out)/node.key", refuseExisting: false)
            try writePublic(issued.certificate.serializeAsPEM().pemString + "\n", to: "\(out)/node.pem")
            print("wrote \(out)/node.pem (CN=\(id), OU=\(role)) and \(out)/node.key")
        }
    }
}

/// Writes a secret file with mode 0600 (created that way, never world-readable in between).
func writeSecret(_ text: String, to path: String, refuseExisting: Bool) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    if refuseExisting && FileManager.default.fileExists(atPath: path) {
        throw ValidationError("\(path) exists; refusing to overwrite a private key")
    }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    fchmod(fd, 0o600)
    let bytes = Array(text.utf8)
    guard write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else { throw ValidationError("cannot write \(path)") }
}

func writePublic(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}
