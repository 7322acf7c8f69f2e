import Foundation

/// The public API as an OpenAPI 3.1 document, served at `GET /openapi.json`.
/// A test checks that it lists exactly the routes the router serves.
enum OpenAPIDocument {
    static let json: String = #"""
    {
      "openapi": "3.1.0",
      "info": {"title": "SMA cluster node", "version": "1.0.0",
               "description": "Simulated Manufacturer Authority for the Birthmark network: camera-token validation and camera provisioning."},
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "API key (roles: validator, provisioner, admin)"}},
        "schemas": {
          "Error": {"type": "object", "required": ["error", "detail"], "properties": {
            "error": {"type": "object", "required": ["code", "message"], "properties": {
              "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}},
            "detail": {"type": "string"}}},
          "CameraToken": {"type": "object", "required": ["ciphertext", "auth_tag", "nonce", "table_id", "key_index"], "properties": {
            "ciphertext": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
            "auth_tag": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
            "nonce": {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"},
            "table_id": {"type": "integer", "minimum": 0},
            "key_index": {"type": "integer", "minimum": 0, "maximum": 999}}},
          "ValidationRequest": {"type": "object", "required": ["camera_token"], "properties": {
            "camera_token": {"$ref": "#/components/schemas/CameraToken"},
            "manufacturer_authority_id": {"type": "string"}}},
          "ValidationResponse": {"type": "object", "required": ["valid", "message"], "properties": {
            "valid": {"type": "boolean"}, "message": {"type": "string"}}},
          "BatchRequest": {"type": "object", "required": ["tokens"], "properties": {
            "tokens": {"type": "array", "maxItems": 1000, "items": {"$ref": "#/components/schemas/CameraToken"}}}},
          "BatchResponse": {"type": "object", "required": ["results"], "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationResponse"}}}},
          "CertificateBundle": {"type": "object", "required": ["camera_cert", "image_hash", "timestamp", "bundle_signature"], "properties": {
            "camera_cert": {"type": "string", "description": "base64 of the PEM certificate"},
            "image_hash": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
            "timestamp": {"type": "integer"},
            "gps_hash": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
            "bundle_signature": {"type": "string", "description": "base64 of a DER ECDSA-SHA256 signature"}}},
          "ProvisionRequest": {"type": "object", "required": ["device_serial", "device_family"], "properties": {
            "device_serial": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^(?:[^\\s\\x00-\\x1F\\x7F-\\x9F]| )+$",
                              "description": "1 to 128 characters; no control characters or line breaks"},
            "device_family": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^(?:[^\\s\\x00-\\x1F\\x7F-\\x9F]| )+$"},
            "nuc_hash": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
            "device_public_key": {"type": "string", "description": "PEM P-256 public key"}}},
          "ProvisionResponse": {"type": "object", "required": ["device_serial", "device_family", "nuc_hash", "device_certificate",
              "certificate_chain", "device_public_key", "table_assignments", "master_keys"], "properties": {
            "device_serial": {"type": "string"}, "device_family": {"type": "string"}, "nuc_hash": {"type": "string"},
            "device_certificate": {"type": "string"}, "certificate_chain": {"type": "string"},
            "device_private_key": {"type": "string"}, "device_public_key": {"type": "string"},
            "table_assignments": {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3},
            "master_keys": {"type": "object", "additionalProperties": {"type": "string"}}}},
          "BulkRequest": {"type": "object", "required": ["devices"], "properties": {
            "devices": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"$ref": "#/components/schemas/ProvisionRequest"}}}},
          "BulkResponse": {"type": "object", "required": ["devices"], "properties": {
            "devices": {"type": "array", "items": {"$ref": "#/components/schemas/ProvisionResponse"}}}},
          "Device": {"type": "object", "required": ["device_serial", "device_family", "table_assignments", "device_certificate",
              "device_public_key", "revoked", "provisioned_at", "seq"], "properties": {
            "device_serial": {"type": "string"}, "device_family": {"type": "string"},
            "table_assignments": {"type": "array", "items": {"type": "integer"}},
            "device_certificate": {"type": "string"}, "device_public_key": {"type": "string"},
            "revoked": {"type": "boolean"}, "revocation_reason": {"type": ["string", "null"]},
            "provisioned_at": {"type": "string"}, "revoked_at": {"type": ["string", "null"]}, "seq": {"type": "integer"}}},
          "DevicePage": {"type": "object", "required": ["devices"], "properties": {
            "devices": {"type": "array", "items": {"$ref": "#/components/schemas/Device"}},
            "next_after": {"type": ["string", "null"]}}},
          "DeviceStatus": {"type": "object", "required": ["device_serial", "revoked", "changed"], "properties": {
            "device_serial": {"type": "string"}, "revoked": {"type": "boolean"}, "changed": {"type": "boolean"}}},
          "KeyTable": {"type": "object", "required": ["id", "state", "device_count"], "properties": {
            "id": {"type": "integer", "minimum": 0},
            "state": {"type": "string", "enum": ["active", "retiring", "retired"]},
            "retire_at": {"type": ["string", "null"], "description": "when its tokens start to FAIL (UTC, ISO 8601); null while active"},
            "device_count": {"type": "integer", "minimum": 0}}},
          "KeyTableList": {"type": "object", "required": ["key_tables"], "properties": {
            "key_tables": {"type": "array", "items": {"$ref": "#/components/schemas/KeyTable"}}}},
          "RetireRequest": {"type": "object", "properties": {
            "grace_seconds": {"type": "integer", "minimum": 0, "maximum": 316224000,
                              "description": "how long tokens under the table still PASS; default key_table_retire_grace_seconds; 0 = at once"}}},
          "RetireResponse": {"type": "object", "required": ["id", "state", "retire_at"], "properties": {
            "id": {"type": "integer"}, "state": {"type": "string", "enum": ["retiring", "retired"]}, "retire_at": {"type": "string"}}},
          "AuditRecord": {"type": "object", "required": ["id", "at", "api_key_name", "action", "node_id"], "properties": {
            "id": {"type": "integer"}, "at": {"type": "string", "description": "database time of the write's transaction (UTC)"},
            "api_key_id": {"type": ["integer", "null"]}, "api_key_name": {"type": "string"}, "role": {"type": ["string", "null"]},
            "action": {"type": "string"}, "target": {"type": ["string", "null"]}, "detail": {"type": ["string", "null"]},
            "log_seq": {"type": ["integer", "null"]}, "client_address": {"type": ["string", "null"]}, "node_id": {"type": "string"}}},
          "AuditPage": {"type": "object", "required": ["entries"], "properties": {
            "entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditRecord"}},
            "next_after": {"type": ["integer", "null"]}}},
          "ClusterStatus": {"type": "object", "required": ["node_id", "region", "generated_at", "leader", "head_seq", "regions", "validations", "recent_revocations"], "properties": {
            "node_id": {"type": "string"}, "region": {"type": "string"}, "generated_at": {"type": "string"},
            "leader": {"type": "object", "required": ["epoch"], "properties": {"id": {"type": "string"}, "epoch": {"type": "integer"}}},
            "head_seq": {"type": "integer"},
            "regions": {"type": "array", "items": {"type": "object", "required": ["name", "nodes"], "properties": {
              "name": {"type": "string"},
              "nodes": {"type": "array", "items": {"type": "object",
                "required": ["id", "role", "status", "is_leader", "ready", "applied_seq", "lag_entries", "public_url", "reporting"], "properties": {
                "id": {"type": "string"}, "role": {"type": "string"}, "status": {"type": "string", "enum": ["alive", "suspect", "dead"]},
                "is_leader": {"type": "boolean"}, "ready": {"type": "boolean"}, "applied_seq": {"type": "integer"},
                "lag_entries": {"type": "integer", "minimum": 0}, "lag_seconds": {"type": "number", "minimum": 0},
                "public_url": {"type": "string"}, "reporting": {"type": "boolean"}}}}}}},
            "validations": {"type": "object", "required": ["bucket_seconds", "buckets", "nodes_reporting", "nodes_missing"], "properties": {
              "bucket_seconds": {"type": "integer"},
              "buckets": {"type": "array", "items": {"type": "object", "required": ["start", "pass", "fail"], "properties": {
                "start": {"type": "integer"}, "pass": {"type": "integer", "minimum": 0}, "fail": {"type": "integer", "minimum": 0}}}},
              "nodes_reporting": {"type": "array", "items": {"type": "string"}},
              "nodes_missing": {"type": "array", "items": {"type": "string"}}}},
            "recent_revocations": {"type": "array", "items": {"type": "object", "required": ["serial", "revoked_at"], "properties": {
              "serial": {"type": "string"}, "reason": {"type": "string"}, "revoked_at": {"type": "string"}}}}}},
          "AbuseReport": {"type": "object", "required": ["node_id", "enabled", "window_hours", "warn_per_day", "revoke_per_day",
              "report_floor", "reports", "devices"], "properties": {
            "node_id": {"type": "string", "description": "the node whose ledger answered"},
            "enabled": {"type": "boolean"},
            "window_hours": {"type": "number"},
            "warn_per_day": {"type": "integer", "minimum": 0, "description": "0 = warnings off"},
            "revoke_per_day": {"type": "integer", "minimum": 0, "description": "0 = automatic revocation off"},
            "report_floor": {"type": "integer", "minimum": 1},
            "reports": {"type": "array", "items": {"type": "object",
              "required": ["node_id", "incarnation", "version", "generated_at", "applied_seq", "devices"], "properties": {
                "node_id": {"type": "string"}, "incarnation": {"type": "integer", "minimum": 0}, "version": {"type": "integer", "minimum": 0},
                "generated_at": {"type": "string", "format": "date-time"}, "applied_seq": {"type": "integer", "minimum": 0},
                "devices": {"type": "integer", "minimum": 0}}}},
            "devices": {"type": "array", "items": {"type": "object", "required": ["device_serial", "count", "by_node", "state"], "properties": {
              "device_serial": {"type": "string"},
              "count": {"type": "integer", "minimum": 0, "description": "cluster-wide validations over the window"},
              "by_node": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
              "state": {"type": "string", "enum": ["ok", "warned", "revoked_by_abuse", "revoked", "unknown"]},
              "revocation_reason": {"type": "string"}}}}}}
        },
        "responses": {
          "Error": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        },
        "parameters": {
          "serial": {"name": "serial", "in": "path", "required": true, "schema": {"type": "string"}},
          "tableID": {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}},
          "limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
          "minSeq": {"name": "X-SMA-Min-Seq", "in": "header", "required": false, "schema": {"type": "integer", "minimum": 0},
                     "description": "answer only once this log seq is applied here (503 + Retry-After otherwise)"}
        }
      },
      "paths": {
        "/validate": {"post": {"summary": "Validate a camera token (validator; anonymous when enabled)", "security": [{"bearer": []}, {}],
          "parameters": [{"$ref": "#/components/parameters/minSeq"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationRequest"}}}},
          "responses": {"200": {"description": "PASS or FAIL", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v1/validate/batch": {"post": {"summary": "Validate many tokens (validator)", "security": [{"bearer": []}, {}],
          "parameters": [{"$ref": "#/components/parameters/minSeq"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
          "responses": {"200": {"description": "one answer per token, in order", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/validate-cert": {"post": {"summary": "Validate a certificate bundle (validator)", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/minSeq"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CertificateBundle"}}}},
          "responses": {"200": {"description": "PASS or FAIL", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ValidationResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices/provision": {"post": {"summary": "Provision a camera (provisioner)", "security": [{"bearer": []}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProvisionRequest"}}}},
          "responses": {"201": {"description": "the camera's provisioning file; X-SMA-Seq header", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProvisionResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices/provision/bulk": {"post": {"summary": "Provision many cameras in one transaction (provisioner)", "security": [{"bearer": []}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkRequest"}}}},
          "responses": {"201": {"description": "provisioning files; X-SMA-Seq header", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices/{serial}": {"get": {"summary": "Look up a device, no secrets (provisioner, admin)", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/serial"}, {"$ref": "#/components/parameters/minSeq"}],
          "responses": {"200": {"description": "device", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Device"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices": {"get": {"summary": "List devices by serial (admin)", "security": [{"bearer": []}],
          "parameters": [{"name": "family", "in": "query", "schema": {"type": "string"}}, {"name": "after", "in": "query", "schema": {"type": "string"}},
                         {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}, {"$ref": "#/components/parameters/minSeq"}],
          "responses": {"200": {"description": "a page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DevicePage"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices/{serial}/revoke": {"post": {"summary": "Revoke a device (admin); idempotent", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/serial"}],
          "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"reason": {"type": "string"}}}}}},
          "responses": {"200": {"description": "revoked; X-SMA-Seq header", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeviceStatus"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/devices/{serial}/reinstate": {"post": {"summary": "Reinstate a device (admin); idempotent", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/serial"}],
          "responses": {"200": {"description": "reinstated; X-SMA-Seq header", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DeviceStatus"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/key-tables": {"get": {"summary": "Key tables: state, retire time, device count (admin)", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/minSeq"}],
          "responses": {"200": {"description": "every key table", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/KeyTableList"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/key-tables/{id}/devices": {"get": {"summary": "Devices holding a key table, by serial (admin)", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/tableID"}, {"name": "after", "in": "query", "schema": {"type": "string"}},
                         {"$ref": "#/components/parameters/limit"}, {"$ref": "#/components/parameters/minSeq"}],
          "responses": {"200": {"description": "a page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DevicePage"}}}},
                        "404": {"$ref": "#/components/responses/Error"}, "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/key-tables/{id}/retire": {"post": {"summary": "Retire a key table: no new assignments, its tokens FAIL after the grace (admin); 409 if already retired or retiring", "security": [{"bearer": []}],
          "parameters": [{"$ref": "#/components/parameters/tableID"}],
          "requestBody": {"required": false, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RetireRequest"}}}},
          "responses": {"200": {"description": "retired; X-SMA-Seq header", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RetireResponse"}}}},
                        "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/audit": {"get": {"summary": "The audit trail (admin), oldest first (order=desc: newest first)", "security": [{"bearer": []}],
          "parameters": [{"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "continue after this audit id (the previous page's next_after)"},
                         {"$ref": "#/components/parameters/limit"},
                         {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}}],
          "responses": {"200": {"description": "a page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AuditPage"}}}},
                        "403": {"$ref": "#/components/responses/Error"}, "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/crl": {"get": {"summary": "The certificate revocation list, signed by the intermediate CA (no authentication)",
          "parameters": [{"name": "format", "in": "query", "schema": {"type": "string", "enum": ["der", "pem"]}}, {"$ref": "#/components/parameters/minSeq"}],
          "responses": {"200": {"description": "DER (application/pkix-crl) or PEM (-----BEGIN X509 CRL-----); X-SMA-CRL-Number header",
                                "content": {"application/pkix-crl": {"schema": {"type": "string", "contentEncoding": "binary"}},
                                            "application/x-pem-file": {"schema": {"type": "string"}}}},
                        "503": {"$ref": "#/components/responses/Error"}, "default": {"$ref": "#/components/responses/Error"}}}},
        "/api/v1/abuse": {"get": {"summary": "Devices with the highest cluster-wide 24 h validation counts (admin)", "security": [{"bearer": []}],
          "parameters": [{"name": "min", "in": "query", "schema": {"type": "integer", "minimum": 0}, "description": "smallest count listed (default 1)"},
                         {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}, "description": "most devices listed (default 100)"}],
          "responses": {"200": {"description": "abuse report", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AbuseReport"}}}},
                        "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"},
                        "422": {"$ref": "#/components/responses/Error"}, "default": {"$ref": "#/components/responses/Error"}}}},
        "/stats": {"get": {"summary": "Counts (admin)", "security": [{"bearer": []}],
          "responses": {"200": {"description": "counts", "content": {"application/json": {"schema": {"type": "object"}}}}, "default": {"$ref": "#/components/responses/Error"}}}},
        "/v1/cluster": {"get": {"summary": "Members, regions, leader, applied seq and lag",
          "responses": {"200": {"description": "cluster view", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/v1/status": {"get": {"summary": "What the status page shows: nodes by region, leader, lag, cluster-wide PASS/FAIL per 10 s, recent revocations",
          "responses": {"200": {"description": "status", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ClusterStatus"}}}}}}},
        "/status": {"get": {"summary": "Operator status page (self-contained HTML, refreshes itself from /v1/status)",
          "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "alive"}}}},
        "/readyz": {"get": {"summary": "Readiness (loaded and caught up)", "responses": {"200": {"description": "ready"}, "503": {"$ref": "#/components/responses/Error"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}}}}
      }
    }
    """#
}
