import { Logger } from '@nestjs/common';
import { createLogger } from './logger.js';
import { PinoNestLogger } from './pino-nest.logger.js';

function capture(level: 'log' | 'warn' | 'verbose' = 'log') {
  const lines: Record<string, any>[] = [];
  const pino = createLogger({ logLevel: level }, 'test', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { lines, logger: new PinoNestLogger(pino) };
}

describe('PinoNestLogger', () => {
  it('writes Nest calls as JSON lines with the context, the level name and an ISO time', () => {
    const { lines, logger } = capture();
    logger.log('registry listening', 'Berth');
    logger.warn('careful', 'Notifications');
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', msg: 'registry listening', context: 'Berth', service: 'test' }),
      expect.objectContaining({ level: 'warn', msg: 'careful', context: 'Notifications' }),
    ]);
    expect(Date.parse(lines[0].time)).not.toBeNaN();
  });

  it('keeps the stack Nest passes before the context of an error, and an Error given as the message', () => {
    const { lines, logger } = capture();
    const err = new Error('boom');
    logger.error('failed', err.stack, 'Registry');
    logger.error(err, 'Registry');
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'failed', context: 'Registry', stack: err.stack });
    expect(lines[1]).toMatchObject({ level: 'error', msg: 'boom', context: 'Registry', err: { message: 'boom' } });
  });

  it('goes through Nest\'s Logger class (as the code base logs) and honours LOG_LEVEL, mapping verbose to trace', () => {
    const quiet = capture('warn');
    quiet.logger.log('hidden', 'Berth');
    quiet.logger.debug('hidden', 'Berth');
    expect(quiet.lines).toEqual([]);
    const chatty = capture('verbose');
    chatty.logger.verbose('detail', 'Berth');
    expect(chatty.lines[0]).toMatchObject({ level: 'trace', msg: 'detail' });

    const { lines, logger } = capture();
    Logger.overrideLogger(logger);
    try {
      new Logger('Berth').error('through the Logger class');
    } finally {
      Logger.overrideLogger(true);
    }
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'through the Logger class', context: 'Berth' });
    expect(lines[0].params).toBeUndefined();
  });

  it('redacts secret-looking fields of logged objects', () => {
    const { lines, logger } = capture();
    logger.log({ msg: 'login', password: 'hunter2', headers: { authorization: 'Basic abc' }, user: { token: 't' } }, 'Auth');
    expect(JSON.stringify(lines[0])).not.toMatch(/hunter2|Basic abc|"t"/);
    expect(lines[0]).toMatchObject({ password: '[redacted]', headers: { authorization: '[redacted]' }, user: { token: '[redacted]' } });
  });
});
