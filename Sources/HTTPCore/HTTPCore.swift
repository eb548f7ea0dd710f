// HTTPCore: an HTTP/1.1 server on POSIX sockets and Dispatch. It knows requests, responses, bodies and
// multipart forms; it knows nothing about images or jobs.
