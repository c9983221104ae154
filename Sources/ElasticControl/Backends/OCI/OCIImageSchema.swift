/// The JSON documents of an OCI image layout (image-spec v1.1): the index, a manifest, a
/// configuration, and the descriptors that link them by digest.
enum OCIImageSchema {
    static let indexMediaType = "application/vnd.oci.image.index.v1+json"
    static let manifestMediaType = "application/vnd.oci.image.manifest.v1+json"
    static let configMediaType = "application/vnd.oci.image.config.v1+json"
    static let layerGzipMediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
    static let layerTarMediaType = "application/vnd.oci.image.layer.v1.tar"
    /// The annotation naming a manifest in `index.json` (the tag in `oci:DIR:TAG`).
    static let refName = "org.opencontainers.image.ref.name"

    struct Descriptor: Codable, Equatable {
        var mediaType: String
        /// `sha256:<hex>`.
        var digest: String
        var size: Int64
        var platform: Platform?
        var annotations: [String: String]?
    }

    struct Platform: Codable, Equatable {
        var architecture: String
        var os: String
    }

    /// `oci-layout`.
    struct Layout: Codable, Equatable {
        var imageLayoutVersion = "1.0.0"
    }

    /// `index.json`.
    struct Index: Codable, Equatable {
        var schemaVersion = 2
        var mediaType = OCIImageSchema.indexMediaType
        var manifests: [Descriptor]
    }

    struct Manifest: Codable, Equatable {
        var schemaVersion = 2
        var mediaType = OCIImageSchema.manifestMediaType
        var config: Descriptor
        var layers: [Descriptor]
        var annotations: [String: String]?
    }

    /// The image configuration: what a container engine runs by default.
    struct Configuration: Codable, Equatable {
        var architecture: String
        var os: String
        var config: RunConfiguration
        var rootfs: RootFS
        var history: [History]
    }

    struct RunConfiguration: Codable, Equatable {
        var user: String
        var entrypoint: [String]
        var cmd: [String]
        var env: [String]
        var workingDir: String
        var exposedPorts: [String: Empty]
        var volumes: [String: Empty]
        var labels: [String: String]

        enum CodingKeys: String, CodingKey {
            case user = "User", entrypoint = "Entrypoint", cmd = "Cmd", env = "Env", workingDir = "WorkingDir"
            case exposedPorts = "ExposedPorts", volumes = "Volumes", labels = "Labels"
        }
    }

    /// `{}` in the image configuration's port and volume sets.
    struct Empty: Codable, Equatable {}

    struct RootFS: Codable, Equatable {
        var type = "layers"
        /// Digests of the uncompressed layers.
        var diffIDs: [String]

        enum CodingKeys: String, CodingKey {
            case type, diffIDs = "diff_ids"
        }
    }

    struct History: Codable, Equatable {
        var createdBy: String
        var comment: String?

        enum CodingKeys: String, CodingKey {
            case createdBy = "created_by", comment
        }
    }
}
