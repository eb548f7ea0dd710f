/// `GET /openapi.json`: the HTTP contract of docs/api.md as OpenAPI 3.1, written by hand next to the routes it
/// describes (Routes/: Route.swift, RequestRouter.swift, ResizeRoute.swift, JobRoutes.swift, OpsRoutes.swift,
/// ResizeRequest.swift, Upload.swift, Problem.swift, JobJSON.swift). A change there needs a change here: the
/// Schemathesis contract test (Tests/ops/test_contract.py, run by Tests/ops/run from scripts/test) checks the
/// running server against this document. Embedded so the binary needs no files besides itself.
enum OpenAPIDocument {
    static let json: [UInt8] = Array(text.utf8)

    static let text = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "deepresize",
    "version": "1.0.0",
    "summary": "Image resizing by reconstruction from deep features, seam carving and plain resampling, over HTTP.",
    "description": "Errors are application/problem+json (RFC 9457). Limits named in the descriptions are configuration keys; the numbers here are the defaults (a deployment may change them). Every GET route also answers HEAD (same headers, no body); a known path with a method it does not allow answers 405 with Allow; an unknown path answers 404. Any route can answer 400 (malformed request line or headers), 408 (head or body too slow), 413 (a Content-Length over max_body_bytes, from the head), 414 (request line over 8 KiB), 431 (header fields over max_header_bytes), 501 (a Transfer-Encoding other than chunked), 503 (over max_connections, or shutting down) and 505 (an HTTP version other than 1.0 and 1.1). With auth_tokens configured, POST /resize and the /jobs routes answer 401 with WWW-Authenticate: Bearer to a request without a valid Authorization: Bearer token. Answers whose format was negotiated from Accept (the image, the 202, and refusals of the upload once the query is accepted) carry Vary: Accept; the 415 for a Content-Encoding carries Accept-Encoding: identity."
  },
  "servers": [{"url": "/"}],
  "paths": {
    "/resize": {
      "post": {
        "operationId": "resize",
        "summary": "Resize an image",
        "description": "method=scale answers the image inline. method=seam (and deep) runs as a queued job: the answer is the image when the job finishes within `wait` seconds, else 202 with the job. `Prefer: respond-async` or wait=0 always gives 202. A synchronous request whose client disconnects before the answer cancels its job.",
        "parameters": [
          {"name": "w", "in": "query", "description": "Target width in pixels. At least one of w and h; a missing one keeps the aspect ratio.", "schema": {"type": "integer", "minimum": 1, "maximum": 1000000}},
          {"name": "h", "in": "query", "description": "Target height in pixels.", "schema": {"type": "integer", "minimum": 1, "maximum": 1000000}},
          {"name": "method", "in": "query", "schema": {"type": "string", "enum": ["deep", "seam", "scale"], "default": "deep"}},
          {"name": "fit", "in": "query", "description": "scale only, with both w and h: fill (exactly w×h, aspect changed), contain (inside w×h, aspect kept) or cover (exactly w×h, aspect kept, centre cropped). A 400 with seam or deep.", "schema": {"type": "string", "enum": ["fill", "contain", "cover"], "default": "fill"}},
          {"name": "operator", "in": "query", "description": "How deep resizes the feature maps (deep only: a 400 with the other methods).", "schema": {"type": "string", "enum": ["seam", "linear"], "default": "seam"}},
          {"name": "protect", "in": "query", "description": "Protect the semantic mask (deep only: a 400 with the other methods).", "schema": {"type": "string", "enum": ["true", "false"], "default": "true"}},
          {"name": "iterations", "in": "query", "description": "Optimiser budget (deep only: a 400 with the other methods).", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}},
          {"name": "format", "in": "query", "description": "Output encoding. When absent, Accept decides: webp when it lists image/webp at least as high as PNG (wildcards never select WebP), else png; the answer then carries Vary: Accept.", "schema": {"type": "string", "enum": ["png", "jpeg", "webp"]}},
          {"name": "quality", "in": "query", "description": "JPEG or WebP quality (lossy; default jpeg_quality = 90). A 400 with format=png.", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
          {"name": "wait", "in": "query", "description": "Seconds the request may wait for a queued job before it answers 202 (default default_wait = 60, at most max_wait = 300), in plain decimal notation.", "schema": {"type": "number", "minimum": 0, "maximum": 300, "default": 60}},
          {"name": "Prefer", "in": "header", "description": "respond-async: answer 202 at once.", "schema": {"type": "string"}},
          {"name": "Accept", "in": "header", "description": "Chooses between WebP and PNG when format is absent.", "schema": {"type": "string"}}
        ],
        "requestBody": {
          "required": true,
          "description": "A JPEG, PNG or still WebP (recognised by content; an embedded ICC profile is converted to sRGB), as multipart field `image` or as the raw body; at most max_body_bytes (25 MiB).",
          "content": {
            "multipart/form-data": {
              "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {"type": "string", "contentMediaType": "application/octet-stream"}}
              },
              "encoding": {"image": {"contentType": "image/jpeg, image/png, image/webp, application/octet-stream"}}
            },
            "image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}},
            "image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}},
            "image/webp": {"schema": {"type": "string", "contentMediaType": "image/webp"}}
          }
        },
        "responses": {
          "200": {
            "description": "The resized image.",
            "headers": {
              "ETag": {"$ref": "#/components/headers/ETag"},
              "Cache-Control": {"description": "no-store: an answer to a POST; fetch GET /jobs/{id}/result to cache a job's result.", "schema": {"const": "no-store"}},
              "X-Job-Id": {"$ref": "#/components/headers/X-Job-Id"},
              "X-Cache": {"$ref": "#/components/headers/X-Cache"},
              "Server-Timing": {"description": "queue, decode, process and encode durations in milliseconds.", "schema": {"type": "string"}},
              "Vary": {"description": "Accept, when the query has no format.", "schema": {"type": "string"}}
            },
            "content": {
              "image/png": {"schema": {"$ref": "#/components/schemas/Image"}},
              "image/jpeg": {"schema": {"$ref": "#/components/schemas/Image"}},
              "image/webp": {"schema": {"$ref": "#/components/schemas/Image"}}
            }
          },
          "202": {
            "description": "Queued or running: poll Location. With X-Cache: hit (wait=0 or Prefer: respond-async), the job answered from the result cache, already succeeded.",
            "headers": {
              "Location": {"description": "/jobs/{id}", "required": true, "schema": {"type": "string"}},
              "Retry-After": {"$ref": "#/components/headers/Retry-After"},
              "X-Job-Id": {"$ref": "#/components/headers/X-Job-Id"},
              "X-Cache": {"$ref": "#/components/headers/X-Cache"}
            },
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}},
            "links": {
              "GetJob": {"operationId": "getJob", "parameters": {"id": "$response.body#/id"}},
              "GetJobResult": {"operationId": "getJobResult", "parameters": {"id": "$response.body#/id"}},
              "GetJobMask": {"operationId": "getJobMask", "parameters": {"id": "$response.body#/id"}},
              "CancelJob": {"operationId": "cancelJob", "parameters": {"id": "$response.body#/id"}}
            }
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "413": {"description": "The body is larger than max_body_bytes.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "415": {"description": "Not a JPEG, PNG or still WebP (by content: GIF, AVIF, HEIC, an animated WebP…), a body type other than multipart/form-data, image/jpeg, image/png, image/webp, or a body with a Content-Encoding (refused from the head).", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "422": {"description": "Decodable but outside the limits (max_input_pixels, max_output_dimension, max_scale_output_pixels, max_deep_output_pixels, max_seam_work), a size the method cannot handle (deep changing the aspect ratio: output under 8×8), an output side over the format's largest (WebP 16383, JPEG 65500), a deep/seam job whose estimated memory exceeds job_memory_budget_bytes, or a job larger than the whole max_data_bytes.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "429": {
            "description": "The job queue is full (queue_capacity).",
            "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          },
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "500": {"$ref": "#/components/responses/InternalError"},
          "503": {"$ref": "#/components/responses/Unavailable"},
          "507": {
            "description": "The job store is full (max_data_bytes): space frees as finished jobs expire; Retry-After says when the next one does.",
            "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
          }
        }
      }
    },
    "/jobs/{id}": {
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "get": {
        "operationId": "getJob",
        "summary": "A job's status and progress",
        "responses": {
          "200": {"description": "The job.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "500": {"$ref": "#/components/responses/InternalError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {
        "operationId": "headJob",
        "summary": "GET without the body",
        "responses": {
          "200": {"description": "The job exists."},
          "404": {"description": "Unknown or expired."},
          "default": {"description": "As for GET, without a body."}
        }
      },
      "delete": {
        "operationId": "cancelJob",
        "summary": "Cancel or purge a job",
        "description": "A queued job is canceled at once; a running one stops at its next step (200 with the job). A finished one is purged: its row, input, result and mask are deleted (204), and later requests for it answer 404.",
        "responses": {
          "200": {"description": "The queued or running job after the cancel request.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "204": {"description": "The finished job was purged with its files."},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "500": {"$ref": "#/components/responses/InternalError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      }
    },
    "/jobs/{id}/result": {
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "get": {
        "operationId": "getJobResult",
        "summary": "The result image of a succeeded job",
        "parameters": [{"$ref": "#/components/parameters/IfNoneMatch"}],
        "responses": {
          "200": {
            "description": "The image.",
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}, "X-Job-Id": {"$ref": "#/components/headers/X-Job-Id"}},
            "content": {
              "image/png": {"schema": {"$ref": "#/components/schemas/Image"}},
              "image/jpeg": {"schema": {"$ref": "#/components/schemas/Image"}},
              "image/webp": {"schema": {"$ref": "#/components/schemas/Image"}}
            }
          },
          "304": {"$ref": "#/components/responses/NotModified"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "409": {"$ref": "#/components/responses/JobNotSucceeded"},
          "410": {"$ref": "#/components/responses/ResultLost"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "500": {"$ref": "#/components/responses/InternalError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {
        "operationId": "headJobResult",
        "summary": "GET without the body",
        "responses": {
          "200": {"description": "The result is ready."},
          "304": {"description": "If-None-Match matched, as for GET."},
          "default": {"description": "As for GET, without a body."}
        }
      }
    },
    "/jobs/{id}/mask": {
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "get": {
        "operationId": "getJobMask",
        "summary": "The semantic mask a succeeded deep job protected, drawn over its dimmed working image",
        "parameters": [{"$ref": "#/components/parameters/IfNoneMatch"}],
        "responses": {
          "200": {
            "description": "PNG: protected regions in colour, the rest dimmed.",
            "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}, "X-Job-Id": {"$ref": "#/components/headers/X-Job-Id"}},
            "content": {"image/png": {"schema": {"$ref": "#/components/schemas/Image"}}}
          },
          "304": {"$ref": "#/components/responses/NotModified"},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "404": {"$ref": "#/components/responses/NotFound"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "409": {"$ref": "#/components/responses/JobNotSucceeded"},
          "410": {"$ref": "#/components/responses/ResultLost"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "500": {"$ref": "#/components/responses/InternalError"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {
        "operationId": "headJobMask",
        "summary": "GET without the body",
        "responses": {
          "200": {"description": "The mask is there."},
          "304": {"description": "If-None-Match matched, as for GET."},
          "default": {"description": "As for GET, without a body."}
        }
      }
    },
    "/healthz": {
      "get": {
        "operationId": "health",
        "summary": "Liveness: 200 while the process serves",
        "responses": {
          "200": {"description": "Serving.", "content": {"application/json": {"schema": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {"operationId": "headHealth", "summary": "GET without the body", "responses": {"200": {"description": "Serving."}, "default": {"description": "As for GET, without a body."}}}
    },
    "/readyz": {
      "get": {
        "operationId": "ready",
        "summary": "Readiness: 200 when the queue database and the jobs directory are writable; 503 otherwise and while shutting down",
        "responses": {
          "200": {
            "description": "Ready.",
            "content": {"application/json": {"schema": {"type": "object", "required": ["status", "workers"], "properties": {"status": {"const": "ready"}, "workers": {"type": "integer", "minimum": 1}}}}}
          },
          "400": {"$ref": "#/components/responses/BadRequest"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {"operationId": "headReady", "summary": "GET without the body", "responses": {"200": {"description": "Ready."}, "default": {"description": "As for GET, without a body."}}}
    },
    "/metrics": {
      "get": {
        "operationId": "metrics",
        "summary": "Prometheus metrics (text format 0.0.4)",
        "responses": {
          "200": {"description": "The series listed in README's Metrics section.", "content": {"text/plain": {"schema": {"type": "string"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {"operationId": "headMetrics", "summary": "GET without the body", "responses": {"200": {"description": "Metrics are served."}, "default": {"description": "As for GET, without a body."}}}
    },
    "/openapi.json": {
      "get": {
        "operationId": "openapi",
        "summary": "This document",
        "responses": {
          "200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {"operationId": "headOpenapi", "summary": "GET without the body", "responses": {"200": {"description": "Served."}, "default": {"description": "As for GET, without a body."}}}
    },
    "/limits": {
      "get": {
        "operationId": "limits",
        "summary": "The limits a request must fit, and the defaults (the web page reads them)",
        "responses": {
          "200": {"description": "The server's limits.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Limits"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {"operationId": "headLimits", "summary": "GET without the body", "responses": {"200": {"description": "Served."}, "default": {"description": "As for GET, without a body."}}}
    },
    "/": {
      "get": {
        "operationId": "page",
        "summary": "The web page: choose an image and a size, follow the progress, compare, download",
        "responses": {
          "200": {"description": "A self-contained HTML page (no external assets).", "content": {"text/html": {"schema": {"type": "string"}}}},
          "400": {"$ref": "#/components/responses/BadRequest"},
          "405": {"$ref": "#/components/responses/MethodNotAllowed"},
          "408": {"$ref": "#/components/responses/RequestTimeout"},
          "431": {"$ref": "#/components/responses/HeaderTooLarge"},
          "503": {"$ref": "#/components/responses/Unavailable"}
        }
      },
      "head": {"operationId": "headPage", "summary": "GET without the body", "responses": {"200": {"description": "Served."}, "default": {"description": "As for GET, without a body."}}}
    }
  },
  "components": {
    "parameters": {
      "JobId": {"name": "id", "in": "path", "required": true, "description": "The job id (a random UUID).", "schema": {"type": "string"}},
      "IfNoneMatch": {"name": "If-None-Match", "in": "header", "description": "RFC 9110 §13.1.2, weak comparison: `*`, or a comma-separated list of entity tags (W/\"…\" matches the strong tag with the same value). A match answers 304; a malformed field is ignored.", "schema": {"type": "string"}}
    },
    "headers": {
      "Retry-After": {"description": "Seconds to wait before asking again.", "schema": {"type": "string", "pattern": "^[0-9]+$"}},
      "X-Job-Id": {"description": "The job id (queued methods).", "schema": {"type": "string"}},
      "X-Cache": {"description": "seam and deep: hit when the result cache answered with a copy of an equal earlier job's result (a new job, already succeeded), else miss.", "schema": {"enum": ["hit", "miss"]}},
      "ETag": {"description": "A strong validator derived from the body: its FNV-1a 64 in hex, quoted. Equal bytes, equal tags.", "schema": {"type": "string", "pattern": "^\"[0-9a-f]{16}\"$"}},
      "Cache-Control": {"description": "private, max-age=N, immutable: N is the seconds until the job expires (result_ttl after it finished).", "schema": {"type": "string", "pattern": "^private, max-age=[0-9]+, immutable$"}},
      "Allow": {"description": "The methods the path allows.", "required": true, "schema": {"type": "string"}}
    },
    "responses": {
      "NotModified": {
        "description": "If-None-Match matched the current ETag: no body.",
        "headers": {"ETag": {"$ref": "#/components/headers/ETag"}, "Cache-Control": {"$ref": "#/components/headers/Cache-Control"}, "X-Job-Id": {"$ref": "#/components/headers/X-Job-Id"}}
      },
      "JobNotSucceeded": {
        "description": "The job has not succeeded (yet): its body says where it is. Retry-After only while it is queued or running; a failed or canceled job never succeeds, so its 409 has none.",
        "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}
      },
      "ResultLost": {"description": "The job succeeded, but its result (or mask) file is missing from the store: the result is lost (GET /jobs/{id} shows the job failed with this problem).", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "BadRequest": {"description": "Malformed request, multipart or parameter (named in detail).", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "NotFound": {"description": "Unknown or expired job (after result_ttl).", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "MethodNotAllowed": {
        "description": "The path exists; the method is not one it allows.",
        "headers": {"Allow": {"$ref": "#/components/headers/Allow"}},
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
      },
      "RequestTimeout": {"description": "The head (header_timeout) or body (body_timeout) took too long.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "HeaderTooLarge": {"description": "Header fields over max_header_bytes.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "InternalError": {"description": "A bug: the detail says what failed.", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
      "Unavailable": {
        "description": "Shutting down, over max_connections or max_body_bytes_in_flight, the job store is unavailable, or (method=deep) the VGG-16 weights are not loaded.",
        "headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"}},
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
      }
    },
    "schemas": {
      "Image": {"type": "string", "contentMediaType": "application/octet-stream"},
      "Limits": {
        "type": "object",
        "required": ["default_method", "methods", "formats", "max_body_bytes", "max_input_pixels", "max_output_pixels", "max_output_dimension", "max_deep_input_pixels", "max_seam_work", "min_deep_output_side", "max_webp_dimension", "max_jpeg_dimension", "default_wait", "max_wait", "iterations", "quality"],
        "properties": {
          "default_method": {"type": "string", "enum": ["deep", "seam", "scale"], "description": "The method of a request that names none."},
          "methods": {"type": "array", "items": {"type": "string"}},
          "formats": {"type": "array", "items": {"type": "string"}},
          "max_body_bytes": {"type": "integer", "description": "Largest request body, the whole multipart upload with its framing (max_body_bytes): 413 above."},
          "max_input_pixels": {"type": "integer", "description": "Largest source, width × height (max_input_pixels): 422 above."},
          "max_output_pixels": {"type": "object", "description": "Largest output, width × height, per method (max_scale_output_pixels; max_deep_output_pixels for seam and deep): 422 above.", "additionalProperties": {"type": "integer"}},
          "max_output_dimension": {"type": "integer", "description": "Largest output side for scale (max_output_dimension)."},
          "max_deep_input_pixels": {"type": "integer", "description": "deep works on at most this many pixels; a larger source is scaled down first."},
          "max_seam_work": {"type": "integer", "description": "seam's bound on pixels × seams (422 above)."},
          "min_deep_output_side": {"type": "integer", "description": "deep changing the aspect ratio needs an output at least this many pixels a side (422 below)."},
          "max_webp_dimension": {"type": "integer", "description": "format=webp: largest output side (WebP's own limit; 422 above)."},
          "max_jpeg_dimension": {"type": "integer", "description": "format=jpeg: largest output side (libjpeg's limit; 422 above)."},
          "default_wait": {"type": "number", "description": "Seconds a request without wait waits for its job."},
          "max_wait": {"type": "number"},
          "iterations": {"type": "object", "properties": {"default": {"type": "integer"}, "min": {"type": "integer"}, "max": {"type": "integer"}}},
          "quality": {"type": "object", "properties": {"default": {"type": "integer"}, "min": {"type": "integer"}, "max": {"type": "integer"}}}
        }
      },
      "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
          "type": {"type": "string"},
          "title": {"type": "string"},
          "status": {"type": "integer", "minimum": 100, "maximum": 599},
          "detail": {"type": "string"}
        }
      },
      "Job": {
        "type": "object",
        "required": ["id", "status", "method", "params", "input", "progress", "created_at", "started_at", "finished_at", "error", "links"],
        "properties": {
          "id": {"type": "string"},
          "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "canceled"]},
          "method": {"type": "string", "enum": ["deep", "seam"]},
          "params": {
            "type": "object",
            "required": ["w", "h", "format"],
            "properties": {
              "w": {"type": "integer", "minimum": 1},
              "h": {"type": "integer", "minimum": 1},
              "operator": {"type": ["string", "null"], "enum": ["seam", "linear", null]},
              "protect": {"type": ["boolean", "null"]},
              "iterations": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
              "format": {"type": "string", "enum": ["png", "jpeg", "webp"]},
              "quality": {"type": "integer", "minimum": 1, "maximum": 100, "description": "jpeg and webp only."}
            }
          },
          "input": {
            "type": "object",
            "required": ["width", "height", "format"],
            "properties": {
              "width": {"type": "integer", "minimum": 1},
              "height": {"type": "integer", "minimum": 1},
              "format": {"type": "string", "enum": ["jpeg", "png", "webp"]}
            }
          },
          "progress": {
            "type": "object",
            "required": ["fraction", "iteration", "iterations", "loss"],
            "properties": {
              "fraction": {"type": "number", "minimum": 0, "maximum": 1},
              "iteration": {"type": "integer", "minimum": 0, "description": "Seams done (seam) or optimiser iterations (deep)."},
              "iterations": {"type": "integer", "minimum": 0},
              "loss": {"type": ["number", "null"], "description": "The objective (deep); null otherwise."}
            }
          },
          "queue_position": {"type": "integer", "minimum": 1, "description": "Present only while queued."},
          "summary": {"type": "string", "description": "Once succeeded: what the run did, in one line. seam names its uniform scale and its seams, scale its sizes; deep says whether the request kept the aspect ratio (a uniform scale, no reconstruction) or what it reconstructed."},
          "created_at": {"type": "string", "format": "date-time"},
          "started_at": {"type": ["string", "null"], "format": "date-time"},
          "finished_at": {"type": ["string", "null"], "format": "date-time"},
          "error": {"oneOf": [{"$ref": "#/components/schemas/Problem"}, {"type": "null"}]},
          "links": {
            "type": "object",
            "required": ["self", "result"],
            "properties": {
              "self": {"type": "string"},
              "result": {"type": "string"},
              "mask": {"type": "string", "description": "Present once a deep job succeeded with a mask (it reconstructed; a request that kept the aspect ratio was only scaled and has none)."}
            }
          }
        }
      }
    }
  }
}
"""#
}
