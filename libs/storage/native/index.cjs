'use strict';
// The compiled addon, or an Error when it was not built (the dependency is optional).
try {
  module.exports = require('./build/Release/berth_sendfile.node');
} catch (err) {
  module.exports = { loadError: err };
}
