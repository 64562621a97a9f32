import { LocalBus } from '../../src/bus/local.js';
import { busConformance } from './conformance.js';

busConformance('local', () => new LocalBus());
