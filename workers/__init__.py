"""Workers: the ingest, push and send stages, the sweeper and the poller. Importing this
package registers nothing: the support-intelligence hooks are installed explicitly
(``workers.intel.install()``) by the stages and the API that run them."""
